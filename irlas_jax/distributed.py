"""Multi-host start-up: ``jax.distributed.initialize`` from config fields.

One host needs nothing: the proxy evaluator already shards its architecture
batch over ``jax.devices()``. Several hosts (a TPU pod slice, GPU nodes) run
the same command once per host; JAX's multi-controller runtime then makes
``jax.devices()`` the devices of every host, and the same code runs on all of
them. Call :func:`initialize` before anything else touches JAX.

Config fields (``config.distributed``, from :func:`default_config`):

* ``coordinator_address``: ``"host:port"`` of process 0; ``None`` (default)
  means a single process and :func:`initialize` does nothing;
* ``num_processes``: number of processes (hosts);
* ``process_id``: this process's index, ``0 .. num_processes - 1``;
* ``auto``: call ``jax.distributed.initialize()`` without arguments, so JAX
  detects the cluster itself (Cloud TPU, SLURM, Open MPI);
* ``cpu_collectives``: the CPU backend's collectives between processes
  (``"gloo"``; GPUs and TPUs use their own).

Decisions: a partly filled config (an address without a process count, an id
out of range) is a ValueError naming the field, raised before JAX is touched;
initialising twice is a no-op the second time (jobs call it, and tests run
several jobs in one process).
"""

from __future__ import annotations

import jax
import ml_collections

_INITIALIZED = False


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.coordinator_address = ml_collections.FieldReference(None, field_type=str)
  c.num_processes = ml_collections.FieldReference(None, field_type=int)
  c.process_id = ml_collections.FieldReference(None, field_type=int)
  c.auto = False
  # Collectives between CPU processes (a CPU-only cluster, or the tests' two
  # processes on one machine); GPU and TPU use their own.
  c.cpu_collectives = "gloo"
  return c


def check_config(config) -> None:
  """Raises ValueError naming the first bad ``config.distributed`` field."""
  address, n, pid = config.coordinator_address, config.num_processes, config.process_id
  if address is None:
    if n is not None or pid is not None:
      raise ValueError("config.distributed.coordinator_address is unset but "
                       "num_processes/process_id are set: set the address "
                       "('host:port' of process 0) too")
    return
  if not isinstance(address, str) or ":" not in address:
    raise ValueError(f"config.distributed.coordinator_address must be 'host:port', "
                     f"got {address!r}")
  if not isinstance(n, int) or n < 1:
    raise ValueError(f"config.distributed.num_processes must be a positive int, got {n!r}")
  if not isinstance(pid, int) or not 0 <= pid < n:
    raise ValueError(f"config.distributed.process_id must be in 0..{n - 1}, got {pid!r}")
  if config.get("auto", False):
    raise ValueError("config.distributed.auto and coordinator_address are exclusive")


def initialize(config, log=print) -> bool:
  """Starts JAX's multi-controller runtime if ``config`` asks for it.

  Args:
    config: ``config.distributed`` (see :func:`default_config`), or None.

  Returns:
    True if this call initialised the runtime, False if it did nothing.
  """
  global _INITIALIZED
  if config is None:
    return False
  check_config(config)
  if _INITIALIZED:
    return False
  if config.get("cpu_collectives") and (config.coordinator_address is not None
                                       or config.get("auto", False)):
    jax.config.update("jax_cpu_collectives_implementation", config.cpu_collectives)
  if config.coordinator_address is not None:
    jax.distributed.initialize(coordinator_address=config.coordinator_address,
                               num_processes=int(config.num_processes),
                               process_id=int(config.process_id))
  elif config.get("auto", False):
    jax.distributed.initialize()
  else:
    return False
  _INITIALIZED = True
  log(f"jax.distributed: process {jax.process_index()} of {jax.process_count()}, "
      f"{jax.local_device_count()} local and {jax.device_count()} global devices")
  return True
