"""Time of one DARTS search step (alpha step + weight step) in the tiny setting.

  python -m benchmarks.darts_step [--repeats 10]

Four variants of ``experiments/configs/darts_tiny.py`` (8x8 inputs, batch
64, 3-cell supernet, C = 4): first order, first order + topology loss
(K = 5, the MSF vmapped over the samples), second order, second order +
topology loss. The variants share one compiled supernet program (as a
search does); after a warm-up step each, they are timed interleaved (one
step of each per round, ``block_until_ready``) so that load from other
processes hits all alike, and the table reports the median ms per step and
the ratio to first order. Target (the issue): the topology loss adds under
10% to a first-order step.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.configs import darts_tiny
from irlas_jax import irl
from irlas_jax.strategies import darts


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  config = darts_tiny.get_config()
  irl_config = config.irl
  msf, _ = irl.fit(list(irl_config.experts), irl_config, log=None)
  dc = config.darts
  model = darts.make_model(dc, 10)
  cell_f = darts.make_cell_f(msf, dc.primitives)
  grad_fn = darts.make_grad_fn(model)
  weight_tx, alpha_tx, schedule = darts.make_optimizers(dc, 1000)
  b = dc.batch_size
  rng = np.random.default_rng(0)
  batch = lambda: (jnp.asarray(rng.random((b, 8, 8, 1), np.float32)),
                   jnp.asarray(rng.integers(0, 10, b), jnp.int32))
  variants = {}
  for name, order, weight in (("first order", 1, 0.0), ("first order + topology", 1, 0.5),
                              ("second order", 2, 0.0), ("second order + topology", 2, 0.5)):
    c = dc.copy_and_resolve_references()
    c.order, c.topology.weight = order, weight
    step = darts.make_train_step(model, c, weight_tx, alpha_tx, schedule, cell_f,
                                 grad_fn=grad_fn)
    state = darts.init_state(jax.random.key(0), model, c, batch()[0], weight_tx, alpha_tx)
    start = time.perf_counter()
    state, _ = step(state, batch(), batch(), jax.random.key(1))
    jax.block_until_ready(state)
    print(f"{name}: first step (compile) {time.perf_counter() - start:.1f} s", flush=True)
    variants[name] = [step, state, []]
  train_batch, val_batch = batch(), batch()
  for r in range(args.repeats):
    for name, entry in variants.items():
      step, state, times = entry
      start = time.perf_counter()
      state, metrics = step(state, train_batch, val_batch, jax.random.key(2 + r))
      jax.block_until_ready((state, metrics))
      times.append(time.perf_counter() - start)
      entry[1] = state
  # The topology loss's own cost: its alpha gradient (K samples, the MSF
  # vmapped over them), timed alone.
  topo_grad = jax.jit(jax.grad(lambda a, k: darts.topology_loss(
      a, k, cell_f, dc.topology.num_samples, dc.topology.baseline)[0]))
  alphas = variants["first order"][1].alphas
  jax.block_until_ready(topo_grad(alphas, jax.random.key(0)))
  topo_times = []
  for r in range(args.repeats):
    start = time.perf_counter()
    jax.block_until_ready(topo_grad(alphas, jax.random.key(r)))
    topo_times.append(time.perf_counter() - start)
  base = np.median(variants["first order"][2])
  print(f"\nDARTS search step, darts_tiny (batch {b}, {dc.layers} cells, C={dc.channels}), "
        f"median of {args.repeats} interleaved rounds on {jax.devices()[0].platform}:\n")
  print("| variant | ms / step | vs first order |")
  print("|---|---:|---:|")
  for name, (_, _, times) in variants.items():
    t = np.median(times)
    print(f"| {name} | {1000 * t:.0f} | {t / base:.3f} |")
  t = np.median(topo_times)
  print(f"| topology-loss gradient alone (K={dc.topology.num_samples}) | {1000 * t:.1f} | "
        f"{t / base:.4f} |")


if __name__ == "__main__":
  main()
