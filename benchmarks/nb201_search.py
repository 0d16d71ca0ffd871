"""Benchmark: whole NAS-Bench-201 searches, vmapped over seeds vs a loop over seeds.

  python -m benchmarks.nb201_search [--seeds 1000] [--budget 500] [--loop_seeds 1000]

For each strategy (random search, regularized evolution, edge Q-learning;
lambda = 0, the table's cifar10-val), the same search function
(:func:`irlas_jax.search.tabular.make_search`: propose, look up, reward,
update for the whole budget in one ``lax.scan``) runs

* vmapped: ``jit(vmap(search))`` over all seeds, one call;
* loop: ``jit(search)`` called once per seed (the baseline: one compiled
  search, a Python loop over seeds).

Compile time is reported separately (first call minus a second call). Both
variants run in the same process, on the same keys, and the benchmark
checks they give the same best-so-far curves. With ``--loop_seeds`` below
``--seeds`` the loop's time is scaled to all seeds (labelled).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax import strategies
from irlas_jax.evaluate import tabular
from irlas_jax.search import tabular as tabular_search
from experiments.configs import nb201_convergence


def _timed(fn, *args):
  start = time.perf_counter()
  out = jax.block_until_ready(fn(*args))
  return out, time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--seeds", type=int, default=1000)
  parser.add_argument("--budget", type=int, default=500)
  parser.add_argument("--loop_seeds", type=int, default=1000)
  parser.add_argument("--table", default=tabular.DEFAULT_PATH)
  args = parser.parse_args()

  config = nb201_convergence.get_config()
  config.budget = args.budget
  table = tabular.load_table(args.table, ("cifar10-val", "cifar10-test"))
  tables = tabular_search.make_tables(table.column("cifar10-val"), table.column("cifar10-test"))
  keys = jax.random.split(jax.random.key(0), args.seeds)
  lam = jnp.float32(0.0)
  rows = []
  for name in config.strategies:
    strategy = strategies.get(name)
    c = config.copy_and_resolve_references()
    c.batch_size = int(config.batch_sizes[name])
    batched = tabular_search.make_batched_search(strategy, c, args.budget)
    single = jax.jit(tabular_search.make_search(strategy, c, args.budget))

    _, first = _timed(batched, keys, tables, lam)
    vmapped, v_time = _timed(batched, keys, tables, lam)
    _, s_first = _timed(single, keys[0], tables, lam)
    _, s_second = _timed(single, keys[0], tables, lam)
    n_loop = min(args.loop_seeds, args.seeds)
    start = time.perf_counter()
    loop_best = []
    for key in keys[:n_loop]:
      loop_best.append(single(key, tables, lam).best_test)
    loop_best = np.asarray(jax.block_until_ready(jnp.stack(loop_best)))
    l_time = (time.perf_counter() - start) * args.seeds / n_loop
    np.testing.assert_allclose(loop_best, np.asarray(vmapped.best_test)[:n_loop], rtol=1e-6)
    rows.append((name, c.batch_size, first - v_time, v_time, s_first - s_second, l_time,
                 n_loop < args.seeds))

  evals = args.seeds * args.budget
  print(f"\n{args.seeds} seeds x {args.budget} evaluations, NAS-Bench-201 table, "
        f"{jax.devices()[0].platform}")
  print("| strategy | batch | compile vmapped (s) | vmapped (s) | searches/s | "
        "compile single (s) | loop over seeds (s) | searches/s | vmapped speed-up |")
  print("|---|---|---|---|---|---|---|---|---|")
  for name, batch, v_compile, v_time, s_compile, l_time, scaled in rows:
    label = " (scaled)" if scaled else ""
    print(f"| {name} | {batch} | {v_compile:.1f} | {v_time:.2f} | {args.seeds / v_time:,.0f} | "
          f"{s_compile:.1f} | {l_time:.1f}{label} | {args.seeds / l_time:,.0f} | "
          f"{l_time / v_time:.1f}x |")
  print(f"({evals:,} evaluations per variant; the loop baseline is the same jitted "
        f"search called once per seed)")


if __name__ == "__main__":
  main()
