"""What a finished search leaves in its workdir, and the printed table.

* ``best_blocks.json``: the top-k distinct blocks, best reward first, each
  with ``layers`` (the ``to_layers`` form), ``accuracy``, ``f_topology``,
  ``reward``, ``params`` and ``flops`` (from a cost function of the
  networks, or null when none is given);
* ``best_block_<rank>.png``: a drawing of each;
* ``curves.png``: best and mean reward, accuracy and F per iteration.
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure
import numpy as np

from irlas_jax import io
from irlas_jax.spaces import render
from irlas_jax.spaces.block import from_layers


def write_outputs(workdir: str, summary: dict, msf, cost_fn=None, log=print) -> list[dict]:
  """Writes best_blocks.json, the drawings and curves.png; prints the table."""
  rows = []
  for rank, record in enumerate(summary["top"], start=1):
    block = from_layers(record["layers"], t_max=msf.t_max, opset=msf.opset)
    cost = cost_fn(block) if cost_fn else {}
    rows.append({"layers": [list(layer) for layer in record["layers"]],
                 "accuracy": record["accuracy"], "f_topology": record["f_topology"],
                 "reward": record["reward"], "params": cost.get("params"),
                 "flops": cost.get("flops"), "iteration": record["iteration"]})
    render.draw(block, os.path.join(workdir, f"best_block_{rank}.png"),
                title=f"#{rank}  R={record['reward']:.2f}  acc={record['accuracy']:.1f}%  "
                      f"F={record['f_topology']:.3f}")
  io.write_json(os.path.join(workdir, "best_blocks.json"), rows)
  plot_curves(summary["metrics"], os.path.join(workdir, "curves.png"))
  log(format_table(rows, msf.opset))
  return rows


def plot_curves(metrics: list[dict], path: str) -> None:
  it = np.arange(1, len(metrics) + 1)
  fig = Figure(figsize=(11, 3.2), layout="constrained")
  axes = fig.subplots(1, 3)
  for ax, name, label in zip(axes, ("reward", "accuracy", "f"),
                             ("reward R (Eq. 9)", "accuracy (%)", "F_topology")):
    ax.plot(it, [m[f"{name}_best"] for m in metrics], label="best of iteration")
    ax.plot(it, [m[f"{name}_mean"] for m in metrics], label="mean of iteration")
    ax.set_xlabel("iteration")
    ax.set_title(label, fontsize=9)
  eps = [m.get("epsilon") for m in metrics]
  if all(e is not None for e in eps) and eps:
    twin = axes[0].twinx()
    twin.plot(it, eps, color="gray", lw=0.8, ls=":")
    twin.set_ylabel("epsilon", color="gray")
  axes[0].legend(fontsize=7)
  fig.savefig(path, dpi=120)


def format_table(rows: list[dict], opset) -> str:
  lines = [f"\n{'#':>2} {'reward':>8} {'acc %':>7} {'F':>8} {'params':>9} {'layers':>6}  block"]
  for rank, r in enumerate(rows, start=1):
    params = f"{r['params']:,}" if r["params"] is not None else "-"
    two = lambda op: opset.ops[opset.op_id(op)].arity == 2
    text = " ".join(f"{op}({p1}{',' + str(p2) if two(op) else ''})"
                    for op, p1, p2 in r["layers"])
    lines.append(f"{rank:>2} {r['reward']:8.3f} {r['accuracy']:7.2f} {r['f_topology']:8.4f} "
                 f"{params:>9} {len(r['layers']):>6}  {text}")
  return "\n".join(lines)
