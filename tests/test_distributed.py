"""Scale: the multi-host initialisation, and a sharded search equal to a
single-device one (4 simulated CPU devices, the real proxy evaluator)."""

import json
import os
import socket
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest

from irlas_jax import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = os.path.join(ROOT, "tests", "distributed_child.py")


def test_initialize_is_a_no_op_when_unset():
  with mock.patch("jax.distributed.initialize") as init:
    assert distributed.initialize(None) is False
    assert distributed.initialize(distributed.default_config()) is False
  init.assert_not_called()


def test_initialize_passes_the_config_fields():
  config = distributed.default_config()
  config.coordinator_address, config.num_processes, config.process_id = "10.0.0.1:1234", 4, 2
  with mock.patch("jax.distributed.initialize") as init, \
       mock.patch.object(distributed, "_INITIALIZED", False):
    assert distributed.initialize(config, log=lambda _: None) is True
    assert distributed.initialize(config, log=lambda _: None) is False  # once only
  init.assert_called_once_with(coordinator_address="10.0.0.1:1234", num_processes=4,
                               process_id=2)


@pytest.mark.parametrize("fields,match", [
    (dict(num_processes=2), "coordinator_address is unset"),
    (dict(coordinator_address="host", num_processes=2, process_id=0), "'host:port'"),
    (dict(coordinator_address="h:1", num_processes=0, process_id=0), "num_processes"),
    (dict(coordinator_address="h:1", num_processes=2, process_id=2), r"process_id must be in 0\.\.1"),
])
def test_bad_fields_are_named(fields, match):
  config = distributed.default_config()
  for k, v in fields.items():
    setattr(config, k, v)
  with mock.patch("jax.distributed.initialize") as init:
    with pytest.raises(ValueError, match=match):
      distributed.initialize(config)
  init.assert_not_called()


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_sharded_search_equals_single_device_search(tmp_path):
  """One process with 1 device, one with 4 simulated devices, and two
  processes with 2 devices each (jax.distributed over gloo): the same search."""
  port = _free_port()
  runs = {"one": ("", [()]),
          "four": ("--xla_force_host_platform_device_count=4", [()]),
          "two_hosts": ("--xla_force_host_platform_device_count=2",
                        [(0, 2, port), (1, 2, port)])}
  children = []
  for name, (flags, processes) in runs.items():
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    workdir = tmp_path / name
    workdir.mkdir()
    for args in processes:
      children.append(subprocess.Popen(
          [sys.executable, CHILD, str(workdir)] + [str(a) for a in args], env=env,
          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  for child in children:
    _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
  one = json.loads((tmp_path / "one" / "result.json").read_text())
  others = {"four": json.loads((tmp_path / "four" / "result.json").read_text())}
  for p in (0, 1):
    others[f"host {p}"] = json.loads((tmp_path / "two_hosts" / f"result_{p}.json").read_text())
  assert one["devices"] == 1 and others["four"]["devices"] == 4
  assert others["host 0"]["devices"] == 4 and others["host 1"]["processes"] == 2
  # The setting tells blocks apart, so a mix-up between devices would show.
  assert len(set(one["cache"].values())) >= 4 and len(one["cache"]) >= 8
  for name, other in others.items():
    # Every block trained, with the same accuracy as on 1 device.
    assert sorted(one["cache"]) == sorted(other["cache"]), name
    for h, acc in one["cache"].items():
      assert other["cache"][h] == pytest.approx(acc, abs=1e-4), (name, h)
    # Hence the same search: the same proposals, rewards and best blocks.
    assert len(other["metrics"]) == 3
    for a, b in zip(one["metrics"], other["metrics"]):
      assert a.keys() == b.keys()
      for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-4, err_msg=f"{name} {k}")
    assert [r["hash"] for r in one["top"]] == [r["hash"] for r in other["top"]], name
  # Only process 0 writes the metrics file: one line per iteration.
  lines = (tmp_path / "two_hosts" / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == 3
