"""Benchmark: params, FLOPs and latency of the expert and its edits (Table 2 style).

  python -m benchmarks.latency [--setting cifar10] [--repeats 30]

The networks of the CIFAR-10 setting (10 blocks, Sec. 4.2) built from the
ResNet expert, its three Sec. 4.3 modifications and the bottleneck ResNet,
on whatever device JAX sees: jitted static networks, batch 16 (Table 2),
median of ``repeats`` timed calls after warm-up, with the 10th-90th
percentile spread; the ratio column is against the ResNet expert measured
in the same run.
"""

import argparse

import jax

from irlas_jax.evaluate.latency import network_cost
from irlas_jax.nn import network as network_lib
from irlas_jax.spaces import experts

BLOCKS = ("resnet", "resnet_modify1", "resnet_modify2", "resnet_modify3", "resnet_bottleneck")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--setting", default="cifar10", choices=sorted(network_lib.PRESETS))
  parser.add_argument("--repeats", type=int, default=30)
  parser.add_argument("--batch_size", type=int, default=16)
  args = parser.parse_args()
  config = network_lib.PRESETS[args.setting]()
  rows = {name: network_cost(experts.get(name), config, args.batch_size,
                             repeats=args.repeats) for name in BLOCKS}
  base = rows["resnet"]["latency_ms"]
  print(f"\n{args.setting} setting, batch {args.batch_size}, {jax.devices()[0].device_kind}")
  print(f"{'block':<20} {'params':>11} {'GFLOPs':>8} {'latency ms':>11} "
        f"{'p10-p90 ms':>15} {'vs resnet':>10}")
  for name, r in rows.items():
    print(f"{name:<20} {r['params']:>11,} {r['flops'] / 1e9:8.2f} {r['latency_ms']:11.1f} "
          f"{r['latency_p10_ms']:7.1f}-{r['latency_p90_ms']:<7.1f} "
          f"{r['latency_ms'] / base:9.2f}x")


if __name__ == "__main__":
  main()
