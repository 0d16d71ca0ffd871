"""Benchmark: proxy-evaluator throughput per mode, at two training budgets.

  python -m benchmarks.evaluate_throughput [--blocks 16] [--t_max 24] [--budgets 12,1]

16 random blocks (``sample_uniform``), the tiny network on the 8x8 digits,
Adam, batch 64. For each budget (epochs) and mode, a fresh evaluator (empty
cache) evaluates the same blocks; printed: compile time and per-step time
(from the evaluator's own cost model, measured on this device), wall time,
blocks per hour, and the ratio to the fastest mode. ``static, sequential``
is the baseline of overlapped compilation: the same static programs
compiled and trained one after another. ``auto`` includes its calibration
(it compiles and times every mode before choosing). Break-even: the number
of training steps per block above which a dynamic mode beats static.
"""

import argparse
import time

import jax
import numpy as np

from irlas_jax.evaluate.proxy import ProxyEvaluator, default_config
from irlas_jax.spaces import sample_uniform


def _evaluator(mode, epochs, t_max, arch_batch):
  config = default_config()
  config.mode, config.epochs, config.arch_batch = mode, epochs, arch_batch
  return ProxyEvaluator(config, t_max, log=lambda _: None)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--blocks", type=int, default=16)
  parser.add_argument("--t_max", type=int, default=24)
  parser.add_argument("--budgets", default="12,1", help="epochs, comma-separated")
  parser.add_argument("--arch_batch", type=int, default=8)
  parser.add_argument("--modes", default="static,static_sequential,map,vmap,auto")
  args = parser.parse_args()
  blocks = sample_uniform(jax.random.key(0), args.blocks, args.t_max)
  probe = _evaluator("map", 1, args.t_max, args.arch_batch)
  costs = probe.calibrate(blocks[0], probe.block_key("0" * 8))
  steps_per_epoch = probe.settings.steps_per_epoch
  print(f"\nproxy evaluator, {args.blocks} random blocks (t_max {args.t_max}), tiny network, "
        f"digits, {steps_per_epoch} steps/epoch, {jax.devices()[0].platform}")
  print("measured cost model: " + "; ".join(
      f"{m}: compile {c.compile_s:.2f} s, step {c.step_s * 1e3:.1f} ms"
      for m, c in costs.items()))
  for mode in ("map", "vmap"):
    c_s, c_d = costs["static"], costs[mode]
    per_block_static = c_s.step_s
    per_block_dynamic = c_d.step_s / args.arch_batch
    if per_block_dynamic < per_block_static:
      print(f"break-even {mode} vs static: always {mode}")
    else:
      steps = c_s.compile_s / (per_block_dynamic - per_block_static)
      print(f"break-even {mode} vs static: {mode} is faster below ~{steps:,.0f} "
            f"steps per block (static pays {c_s.compile_s:.1f} s of compile per block)")

  for epochs in (int(e) for e in args.budgets.split(",")):
    rows = {}
    for mode in args.modes.split(","):
      evaluator = _evaluator("static" if mode == "static_sequential" else mode, epochs,
                             args.t_max, args.arch_batch)
      start = time.perf_counter()
      if mode == "static_sequential":
        keys = [evaluator.block_key(f"{i:08x}") for i in range(args.blocks)]
        for i in range(args.blocks):
          program = evaluator._static_program(blocks[i])
          variables = evaluator._static_variables(blocks[i], keys[i])
          jax.block_until_ready(program(keys[i], variables, np.int32(evaluator.num_steps),
                                        *evaluator._data()))
        acc = None
      else:
        acc = evaluator(blocks)
      wall = time.perf_counter() - start
      rows[mode] = (wall, evaluator.chosen_mode, acc)
    fastest = min(w for w, _, _ in rows.values())
    print(f"\nbudget {epochs} epochs ({epochs * steps_per_epoch} steps per block)")
    print(f"{'mode':<20} {'wall s':>9} {'blocks/h':>10} {'vs fastest':>11}  note")
    for mode, (wall, chosen, acc) in rows.items():
      note = f"chose {chosen}" if mode == "auto" else ""
      if acc is not None:
        note += f" mean acc {np.mean(acc):.1f}%"
      print(f"{mode:<20} {wall:9.1f} {args.blocks / wall * 3600:10.0f} "
            f"{wall / fastest:10.2f}x  {note}")
    if "static" in rows and "static_sequential" in rows:
      print(f"overlapped compilation: static is "
            f"{rows['static_sequential'][0] / rows['static'][0]:.2f}x faster than sequential")


if __name__ == "__main__":
  main()
