"""The latency and cost table (Table 2, Fig. 6b): params, FLOPs, latency per block.

Rows: the ResNet expert, its three Sec. 4.3 modifications, the best blocks
of a search workdir, and the complicated NASNet-A-like and DARTS-like cells
(:mod:`irlas_jax.spaces.complex_blocks`), all stacked in the same network.

Measurement (the definitions of :mod:`irlas_jax.evaluate.latency`, with two
changes for a shared machine):

* params: scalars of the static network's ``params``; FLOPs: XLA's
  ``cost_analysis()`` of the compiled inference program (one batch);
* latency: the compiled static network in eval mode at batch 16; after
  ``warmup`` calls per row, ``rounds`` rounds in which every row is timed
  ``calls_per_round`` times (``block_until_ready``, one call at a time),
  rows interleaved, so that load from other processes falls on every row
  alike. Reported: median, 10th and 90th percentiles of all timed calls (ms),
  and ``ratio_to_resnet``: the median over rounds of the row's round median
  divided by the ResNet expert's round median (robust to drifting load);
* weights are drawn with numpy from the shapes of ``init``
  (``jax.eval_shape``; BN statistics 0 and 1) instead of running ``init``:
  latency does not depend on the values, and on XLA:CPU compiling ``init``
  of a 10-block network costs more than the forward pass itself.

Writes ``latency.json`` (rows, device, settings, the ratio of the slowest
complicated block to the ResNet expert) and ``latency.png`` (latency bars;
latency against accuracy for rows whose accuracy is known).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
from matplotlib.figure import Figure
import numpy as np

from irlas_jax import distributed
from irlas_jax import io
from irlas_jax import nn as nn_lib
from irlas_jax.nn import network as network_lib
from irlas_jax.spaces import complex_blocks, experts
from irlas_jax.spaces.block import from_layers
from irlas_jax.spaces.opset import BLOCK_OPS


def network_config(config) -> network_lib.NetworkConfig:
  return network_lib.from_preset(config.network, config.get("network_overrides"),
                                 num_classes=int(config.num_classes),
                                 image_size=int(config.image_size))


def random_variables(model, x, seed: int = 0):
  """Variables of ``model`` with the shapes of ``init``, filled by numpy."""
  shapes = jax.eval_shape(lambda k: model.init(k, x[:1], False), jax.random.key(0))
  rng = np.random.default_rng(seed)

  def fill(path, s):
    name = getattr(path[-1], "key", "")
    if name == "mean" or name == "bias":
      return jnp.zeros(s.shape, s.dtype)
    if name in ("var", "scale"):
      return jnp.ones(s.shape, s.dtype)
    fan_in = int(np.prod(s.shape[:-1])) or 1
    return jnp.asarray(rng.normal(0.0, 1.0 / np.sqrt(fan_in), s.shape), s.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def compile_forward(layers, net_config, batch_size: int, channels: int):
  """``(compiled, variables, x, params, flops)`` of the block's static network."""
  model = nn_lib.StaticNetwork(tuple(tuple(l) for l in layers), net_config, BLOCK_OPS)
  x = jnp.zeros((batch_size, net_config.image_size, net_config.image_size, channels),
                jnp.float32)
  variables = random_variables(model, x)
  compiled = jax.jit(lambda v, x: model.apply(v, x, False)).lower(variables, x).compile()
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  flops = (analysis or {}).get("flops")
  return (compiled, variables, x, nn_lib.count_params(variables),
          float(flops) if flops is not None else None)


def time_interleaved(programs: dict, warmup: int, rounds: int, calls_per_round: int,
                     log=print) -> dict:
  """``{name: [[ms per call] per round]}``, rows timed in interleaved rounds."""
  for name, (compiled, variables, x) in programs.items():
    for _ in range(warmup):
      jax.block_until_ready(compiled(variables, x))
  times = {name: [] for name in programs}
  for r in range(rounds):
    for name, (compiled, variables, x) in programs.items():
      this = []
      for _ in range(calls_per_round):
        start = time.perf_counter()
        jax.block_until_ready(compiled(variables, x))
        this.append((time.perf_counter() - start) * 1e3)
      times[name].append(this)
    log(f"  timing round {r + 1}/{rounds}")
  return times


def summarize(times: dict, reference: str | None) -> dict:
  """Median / p10 / p90 per row and the per-round median ratio to ``reference``."""
  out = {}
  for name, per_round in times.items():
    flat = np.concatenate([np.asarray(t) for t in per_round])
    p10, median, p90 = np.percentile(flat, [10, 50, 90])
    row = {"latency_ms": float(median), "latency_p10_ms": float(p10),
           "latency_p90_ms": float(p90), "timed_calls": int(flat.size)}
    if reference is not None and reference in times:
      ratios = [np.median(a) / np.median(b) for a, b in zip(per_round, times[reference])]
      row["ratio_to_resnet"] = float(np.median(ratios))
    out[name] = row
  return out


def collect_rows(config) -> list[dict]:
  """The rows to measure: name, kind, layers, known accuracy."""
  known = dict(config.get("accuracies", {}))
  rows = []
  for name in config.experts:
    kind = "expert" if name == "resnet" or name not in experts.MODIFICATIONS else "modification"
    rows.append({"name": name, "kind": kind, "layers": experts.layers(name)})
  if config.get("search_workdir"):
    path = os.path.join(config.search_workdir, "best_blocks.json")
    if not os.path.exists(path):
      raise ValueError(f"config.search_workdir={config.search_workdir!r} has no "
                       f"best_blocks.json (run the search job there first)")
    for rank, row in enumerate(io.read_json(path)[:int(config.top_k)], start=1):
      rows.append({"name": f"searched_{rank}", "kind": "searched",
                   "layers": [tuple(l) for l in row["layers"]],
                   "accuracy": row.get("accuracy"), "accuracy_kind": "proxy"})
  for name in config.complex_blocks:
    rows.append({"name": name, "kind": "complicated", "layers": complex_blocks.layers(name)})
  for row in rows:
    from_layers(row["layers"], t_max=max(len(row["layers"]), 1))  # names a bad layer
    if row["name"] in known:
      row["accuracy"], row["accuracy_kind"] = float(known[row["name"]]), "given"
    row.setdefault("accuracy", None)
    row["layers"] = [list(l) for l in row["layers"]]
  names = [r["name"] for r in rows]
  if len(set(names)) != len(names):
    raise ValueError(f"duplicate row names {names}")
  return rows


def measure(rows: list[dict], net_config, config, log=print) -> list[dict]:
  """Compiles every row's network, times them interleaved, fills in the costs."""
  programs = {}
  for row in rows:
    tick = time.perf_counter()
    compiled, variables, x, params, flops = compile_forward(
        row["layers"], net_config, int(config.batch_size), int(config.channels))
    programs[row["name"]] = (compiled, variables, x)
    row.update(params=params, flops=flops, compile_s=time.perf_counter() - tick)
    log(f"  compiled {row['name']:<16} {params:>11,} params  "
        f"{(flops or 0) / 1e9:8.3f} GFLOPs  ({row['compile_s']:.1f} s)")
  times = time_interleaved(programs, int(config.warmup), int(config.rounds),
                           int(config.calls_per_round), log)
  reference = "resnet" if "resnet" in programs else None
  stats = summarize(times, reference)
  for row in rows:
    row.update(stats[row["name"]])
  return rows


def format_table(rows: list[dict]) -> str:
  lines = [f"{'block':<16} {'kind':<12} {'layers':>6} {'params':>11} {'GFLOPs':>8} "
           f"{'latency ms':>11} {'p10-p90 ms':>15} {'x resnet':>8} {'acc %':>6}"]
  for r in rows:
    ratio = f"{r['ratio_to_resnet']:.2f}" if "ratio_to_resnet" in r else "-"
    acc = f"{r['accuracy']:.1f}" if r.get("accuracy") is not None else "-"
    lines.append(f"{r['name']:<16} {r['kind']:<12} {len(r['layers']):>6} "
                 f"{r['params']:>11,} {(r['flops'] or 0) / 1e9:>8.3f} "
                 f"{r['latency_ms']:>11.2f} "
                 f"{r['latency_p10_ms']:>7.2f}-{r['latency_p90_ms']:<7.2f} "
                 f"{ratio:>8} {acc:>6}")
  return "\n".join(lines)


def plot(rows: list[dict], path: str, title: str) -> None:
  colours = {"expert": "tab:green", "modification": "tab:olive", "searched": "tab:blue",
             "complicated": "tab:red"}
  fig = Figure(figsize=(11, 3.8), layout="constrained")
  bars, scatter = fig.subplots(1, 2)
  names = [r["name"] for r in rows]
  bars.barh(names, [r["latency_ms"] for r in rows],
            xerr=np.asarray([[r["latency_ms"] - r["latency_p10_ms"] for r in rows],
                             [r["latency_p90_ms"] - r["latency_ms"] for r in rows]]),
            color=[colours[r["kind"]] for r in rows])
  bars.invert_yaxis()
  bars.set_xlabel("latency (ms, median; bars p10-p90)")
  bars.set_title(title, fontsize=9)
  known = [r for r in rows if r.get("accuracy") is not None]
  for r in known:
    scatter.scatter(r["latency_ms"], r["accuracy"], color=colours[r["kind"]])
    scatter.annotate(r["name"], (r["latency_ms"], r["accuracy"]), fontsize=7,
                     xytext=(3, 3), textcoords="offset points")
  scatter.set_xlabel("latency (ms)")
  scatter.set_ylabel("accuracy (%)")
  scatter.set_title("latency vs accuracy (rows with a known accuracy)", fontsize=9)
  if not known:
    scatter.text(0.5, 0.5, "no accuracies known", ha="center", va="center",
                 transform=scatter.transAxes)
  fig.savefig(path, dpi=120)


def run(config, workdir):
  distributed.initialize(config.get("distributed"))
  os.makedirs(workdir, exist_ok=True)
  net_config = network_config(config)
  rows = collect_rows(config)
  device = jax.devices()[0]
  print(f"latency at batch {config.batch_size} on {device.platform} "
        f"({device.device_kind}), network {config.network}: {len(rows)} rows")
  rows = measure(rows, net_config, config)
  complicated = [r for r in rows if r["kind"] == "complicated"]
  slowest = max(complicated, key=lambda r: r["latency_ms"]) if complicated else None
  result = {
      "device": {"platform": device.platform, "kind": device.device_kind,
                 "count": jax.device_count()},
      "batch_size": int(config.batch_size), "network": net_config.to_dict(),
      "warmup": int(config.warmup), "rounds": int(config.rounds),
      "calls_per_round": int(config.calls_per_round), "rows": rows,
      "slowest_complicated": slowest["name"] if slowest else None,
      "slowest_complicated_ratio_to_resnet":
          slowest.get("ratio_to_resnet") if slowest else None,
  }
  io.write_json(os.path.join(workdir, "latency.json"), result)
  plot(rows, os.path.join(workdir, "latency.png"),
       f"{config.network}, batch {config.batch_size}, {device.device_kind}")
  print(format_table(rows))
  if slowest is not None and "ratio_to_resnet" in slowest:
    print(f"slowest complicated block: {slowest['name']}, "
          f"{slowest['ratio_to_resnet']:.2f}x the ResNet expert's latency")
  print(f"wrote {os.path.join(workdir, 'latency.json')} and latency.png")
  return result
