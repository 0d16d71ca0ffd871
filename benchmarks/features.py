"""Benchmark: feature counts of many random blocks, jitted+vmapped vs Python.

  python -m benchmarks.features [--blocks 10000] [--encoding relative_depth]

The baseline, measured in the same run, is a plain Python/NumPy loop over
blocks that builds phi layer by layer (the way a PyTorch NAS codebase
typically computes architecture encodings). Prints a table of wall times and
ratios against that baseline; compile time is shown separately.
"""

import argparse
import time

import jax
import numpy as np

from irlas_jax import features
from irlas_jax.spaces import BLOCK_OPS, sample_uniform, to_layers


def python_feature_count(layers, gamma, t_max):
  """relative_depth mu of one block, in plain Python (the baseline)."""
  num_ops = BLOCK_OPS.num_ops
  dist = t_max
  mu = np.zeros(num_ops + 2 * dist + t_max)
  for t, (name, p1, p2) in enumerate(layers, start=1):
    op = BLOCK_OPS.op_id(name)
    row = np.zeros_like(mu)
    row[op] = 1
    row[num_ops + t - p1 - 1] = 1
    if BLOCK_OPS.ops[op].arity == 2:
      row[num_ops + dist + t - p2 - 1] = 1
    row[num_ops + 2 * dist + t - 1] = 1
    mu += gamma ** t * row
  return mu


def _time(fn, repeats=3):
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    best = min(best, time.perf_counter() - start)
  return best, out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--blocks", type=int, default=10_000)
  parser.add_argument("--t_max", type=int, default=24)
  args = parser.parse_args()
  gamma, encoding = 0.9, "relative_depth"
  blocks = sample_uniform(jax.random.key(0), args.blocks, args.t_max)
  jax.block_until_ready(blocks)
  layer_lists = [to_layers(blocks[i]) for i in range(args.blocks)]

  start = time.perf_counter()
  baseline = np.stack([python_feature_count(l, gamma, args.t_max) for l in layer_lists])
  t_python = time.perf_counter() - start

  start = time.perf_counter()
  first = features.feature_count(blocks, gamma, encoding)
  jax.block_until_ready(first)
  t_first = time.perf_counter() - start
  t_jax, mus = _time(lambda: features.feature_count(blocks, gamma, encoding))
  np.testing.assert_allclose(np.asarray(mus), baseline, rtol=1e-5, atol=1e-6)

  rows = [("python loop (baseline)", t_python),
          ("jax jit+vmap, first call (compile incl.)", t_first),
          ("jax jit+vmap, compiled", t_jax)]
  print(f"\nfeature counts of {args.blocks} random blocks, t_max {args.t_max}, "
        f"{encoding}, {jax.devices()[0].platform}")
  print(f"{'implementation':<44} {'wall s':>9} {'blocks/s':>12} {'speed-up':>9}")
  for name, t in rows:
    print(f"{name:<44} {t:9.4f} {args.blocks / t:12.0f} {t_python / t:8.1f}x")


if __name__ == "__main__":
  main()
