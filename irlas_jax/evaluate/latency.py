"""Cost of a block's network: parameters, FLOPs, inference latency (Table 2).

* Parameters: the number of scalars in the static network's ``params``.
* FLOPs: XLA's own count, from the compiled inference program's
  ``cost_analysis()`` (one forward pass at the given batch size).
* Latency: the jitted static network in eval mode at batch 16 (Table 2's
  setting), after ``warmup`` calls; ``repeats`` calls timed one by one with
  ``block_until_ready``; the median and the 10th/90th percentiles (ms).

Everything uses the static network (:class:`irlas_jax.nn.StaticNetwork`):
a deployed block is compiled with only its own ops.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.nn import StaticNetwork, count_params
from irlas_jax.nn.network import NetworkConfig
from irlas_jax.spaces.block import Block, to_layers


def _compiled_forward(block: Block, config: NetworkConfig, batch_size: int, channels: int):
  model = StaticNetwork(to_layers(block), config, block.opset)
  x = jnp.zeros((batch_size, config.image_size, config.image_size, channels), jnp.float32)
  variables = jax.jit(lambda k: model.init(k, x[:1], False))(jax.random.key(0))
  forward = jax.jit(lambda v, x: model.apply(v, x, False))
  return forward.lower(variables, x).compile(), variables, x


def _flops(compiled) -> float | None:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  flops = (analysis or {}).get("flops")
  return float(flops) if flops is not None else None


def params_and_flops(block: Block, config: NetworkConfig, batch_size: int = 1,
                     channels: int = 3) -> dict:
  """``{"params": int, "flops": float}`` of the block's network (per batch)."""
  compiled, variables, _ = _compiled_forward(block, config, batch_size, channels)
  return {"params": count_params(variables), "flops": _flops(compiled)}


def network_cost(block: Block, config: NetworkConfig, batch_size: int = 16,
                 channels: int = 3, warmup: int = 5, repeats: int = 50) -> dict:
  """Params, FLOPs and latency (ms; median, p10, p90) at ``batch_size``."""
  compiled, variables, x = _compiled_forward(block, config, batch_size, channels)
  for _ in range(warmup):
    jax.block_until_ready(compiled(variables, x))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(variables, x))
    times.append((time.perf_counter() - start) * 1e3)
  p10, median, p90 = np.percentile(times, [10, 50, 90])
  return {"params": count_params(variables), "flops": _flops(compiled),
          "latency_ms": float(median), "latency_p10_ms": float(p10),
          "latency_p90_ms": float(p90), "batch_size": batch_size,
          "device": jax.devices()[0].device_kind}
