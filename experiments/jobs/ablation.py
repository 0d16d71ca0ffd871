"""The lambda ablation (Sec. 4.5, Fig. 3/4, Fig. 6b): search with lambda = 0, 30, 60.

1. The mirror stimuli function is fitted once (Alg. 1) and saved in the
   workdir; one proxy evaluator serves the three searches (same seed and
   budget; its cache is keyed by canonical hash and a block's accuracy does
   not depend on the search that proposed it, so a block proposed by two
   searches is trained once).
2. For each lambda, the search of ``config.search`` with ``lam`` replaced
   runs (or resumes) in ``<workdir>/lam_<lambda>`` and leaves its usual
   outputs there (``best_blocks.json``, drawings, curves, checkpoints).
3. The top ``top_k`` (4, as in Sec. 4.5) blocks of each search, by reward,
   are measured in the same network (``config.latency``; the latency job's
   interleaved timing, together with the ResNet expert as reference), and
   described: number of layers, edges, output branches, residual adds.
4. Writes ``ablation.json``, ``ablation_blocks.png`` (the 12 blocks, one row
   per lambda, as Fig. 3/4), ``ablation.png`` (latency against accuracy per
   lambda, as Fig. 6b, and the structure counts) and prints a table.

Definitions (the paper draws the blocks but defines none of these):

* ``edges``: the edges of the block's DAG between nodes, one per input of
  every layer (1 for a one-input op, 2 for add/concat); the implicit edges
  from the output branches to the output concat are not counted, their
  number is ``branches``.
* ``residual_add``: some ``add`` layer has an input that is an ancestor of
  its other input (a shortcut around a residual function, as in ResNet and
  in the Sec. 4.3 modification 1, whose shortcut starts after a conv).
* ``input_shortcut``: some ``add`` has the block input itself (or an
  identity chain from it) as one input and a non-trivial function of it as
  the other: the strict "path back to the block input directly" form.
* Accuracy is the proxy accuracy of the search (the paper's Fig. 6b
  retrains the 12 networks on ImageNet; ``final_training`` does that at
  full scale).
"""

from __future__ import annotations

import copy
import os

from matplotlib.figure import Figure
import numpy as np

from experiments.jobs import latency as latency_job
from experiments.jobs import search as search_job
from irlas_jax import distributed
from irlas_jax import io
from irlas_jax.evaluate import final_training
from irlas_jax.evaluate.proxy import ProxyEvaluator
from irlas_jax.search import search, write_outputs
from irlas_jax.spaces import experts, render
from irlas_jax.spaces.block import from_layers
from irlas_jax.spaces.opset import BLOCK_OPS, get_opset


# -- structure of a block ----------------------------------------------------------

def _arity(op: str) -> int:
  return BLOCK_OPS.ops[BLOCK_OPS.op_id(op)].arity


def num_edges(layers) -> int:
  """Edges between nodes: one per input of every layer."""
  return sum(_arity(op) for op, _, _ in layers)


def branches(layers) -> int:
  """Layers with no successor (concatenated into the block output)."""
  used = {p for op, p1, p2 in layers for p in ((p1, p2) if _arity(op) == 2 else (p1,))}
  return sum(1 for t in range(1, len(layers) + 1) if t not in used)


def _ancestors(layers) -> list[set[int]]:
  """``out[n]``: every node node ``n`` depends on (node 0 is the input)."""
  out = [set()]
  for op, p1, p2 in layers:
    preds = (p1, p2) if _arity(op) == 2 else (p1,)
    out.append(set().union(*({p} | out[p] for p in preds)))
  return out


def _is_input(layers, node: int) -> bool:
  """Whether ``node`` is the block input or an identity chain from it."""
  while node != 0:
    op, p1, _ = layers[node - 1]
    if op != "identity":
      return False
    node = p1
  return True


def has_residual_add(layers) -> bool:
  """Some add has one input that is an ancestor of the other (see the module)."""
  ancestors = _ancestors(layers)
  for op, a, b in layers:
    if op == "add" and (b in ancestors[a] or a in ancestors[b]):
      return True
  return False


def has_input_shortcut(layers) -> bool:
  """Some add sums the block input (through identities only) and a function of it."""
  for op, a, b in layers:
    if op == "add" and _is_input(layers, a) != _is_input(layers, b):
      return True
  return False


def describe(layers) -> dict:
  layers = [tuple(l) for l in layers]
  return {"num_layers": len(layers), "edges": num_edges(layers),
          "branches": branches(layers), "residual_add": has_residual_add(layers),
          "input_shortcut": has_input_shortcut(layers)}


# -- the job --------------------------------------------------------------------------

def _lam_dir(workdir: str, lam: float) -> str:
  return os.path.join(workdir, f"lam_{lam:g}")


def run_searches(config, workdir: str, log=print) -> dict:
  """Runs (or resumes) one search per lambda; ``{lam: best_blocks rows}``."""
  search_config = config.search
  msf = search_job.load_or_fit_msf(search_config, workdir, log=log)
  evaluator = ProxyEvaluator(search_config.evaluator, search_config.t_max,
                             get_opset(search_config.space), log=log)
  out = {}
  for lam in config.lams:
    sub = copy.deepcopy(search_config)
    sub.lam = float(lam)
    sub.top_k = max(int(search_config.top_k), int(config.top_k))
    log(f"\n== search with lambda = {lam:g} ==")
    lam_dir = _lam_dir(workdir, float(lam))
    summary = search(sub, lam_dir, evaluator, msf, log=log)
    out[float(lam)] = write_outputs(lam_dir, summary, msf, cost_fn=None, log=log)
  return out


def latency_network(config):
  net = latency_job.network_config(config.latency)
  if config.latency.get("param_budget"):
    net, _ = final_training.fit_param_budget(
        experts.layers("resnet"), net, int(config.latency.param_budget),
        channels=int(config.latency.channels))
  return net


def format_table(rows: list[dict]) -> str:
  lines = [f"{'lambda':>6} {'#':>2} {'acc %':>6} {'F':>8} {'reward':>8} {'layers':>6} "
           f"{'edges':>5} {'branch':>6} {'resid':>5} {'in-sc':>5} {'latency ms':>10} "
           f"{'x resnet':>8}  block"]
  for r in rows:
    text = " ".join(f"{op}({p1}{',' + str(p2) if _arity(op) == 2 else ''})"
                    for op, p1, p2 in r["layers"])
    lam = f"{r['lam']:g}" if r["lam"] is not None else "expert"
    lines.append(
        f"{lam:>6} {r['rank']:>2} {r['accuracy'] if r['accuracy'] is not None else 0:6.2f} "
        f"{r['f_topology'] or 0:8.4f} {r['reward'] or 0:8.2f} {r['num_layers']:>6} "
        f"{r['edges']:>5} {r['branches']:>6} {str(r['residual_add'])[0]:>5} "
        f"{str(r['input_shortcut'])[0]:>5} {r['latency_ms']:>10.2f} "
        f"{r.get('ratio_to_resnet', float('nan')):>8.2f}  {text}")
  return "\n".join(lines)


def summarize_by_lambda(rows: list[dict]) -> dict:
  out = {}
  for lam in sorted({r["lam"] for r in rows if r["lam"] is not None}):
    group = [r for r in rows if r["lam"] == lam]
    mean = lambda k: float(np.mean([float(r[k]) for r in group]))
    out[f"{lam:g}"] = {
        "blocks": len(group), "accuracy_mean": mean("accuracy"),
        "latency_ms_mean": mean("latency_ms"),
        "ratio_to_resnet_mean": mean("ratio_to_resnet") if all(
            "ratio_to_resnet" in r for r in group) else None,
        "layers_mean": mean("num_layers"), "edges_mean": mean("edges"),
        "branches_mean": mean("branches"),
        "residual_add": sum(r["residual_add"] for r in group),
        "input_shortcut": sum(r["input_shortcut"] for r in group)}
  return out


def plot(rows: list[dict], path: str, title: str) -> None:
  fig = Figure(figsize=(11, 3.8), layout="constrained")
  scatter, counts = fig.subplots(1, 2)
  lams = sorted({r["lam"] for r in rows if r["lam"] is not None})
  colours = dict(zip(lams, ("tab:red", "tab:blue", "tab:green", "tab:purple",
                            "tab:orange")))
  for lam in lams:
    group = [r for r in rows if r["lam"] == lam]
    scatter.scatter([r["latency_ms"] for r in group], [r["accuracy"] for r in group],
                    color=colours.get(lam, "gray"), label=f"lambda = {lam:g}")
  for r in rows:
    if r["lam"] is None:
      scatter.axvline(r["latency_ms"], color="gray", ls=":", lw=1)
      scatter.annotate("ResNet expert", (r["latency_ms"], scatter.get_ylim()[0]),
                       fontsize=7, rotation=90, va="bottom")
  scatter.set_xlabel("latency (ms, median)")
  scatter.set_ylabel("proxy accuracy (%)")
  scatter.set_title(title, fontsize=9)
  scatter.legend(fontsize=7)
  x = np.arange(len(lams))
  for i, (key, label) in enumerate((("num_layers", "layers"), ("edges", "edges"),
                                    ("branches", "branches"))):
    counts.bar(x + (i - 1) * 0.27, [np.mean([r[key] for r in rows if r["lam"] == lam])
                                    for lam in lams], 0.27, label=label)
  counts.set_xticks(x, [f"lambda = {lam:g}" for lam in lams])
  counts.set_title("mean structure of the top blocks", fontsize=9)
  counts.legend(fontsize=7)
  fig.savefig(path, dpi=120)


def run(config, workdir, log=print):
  distributed.initialize(config.get("distributed"))
  os.makedirs(workdir, exist_ok=True)
  best = run_searches(config, workdir, log)
  rows = []
  for lam, found in best.items():
    for rank, found_row in enumerate(found[:int(config.top_k)], start=1):
      rows.append({"name": f"lam{lam:g}_{rank}", "lam": lam, "rank": rank,
                   "layers": [list(l) for l in found_row["layers"]],
                   "accuracy": found_row["accuracy"],
                   "f_topology": found_row["f_topology"], "reward": found_row["reward"],
                   **describe(found_row["layers"])})
  rows.append({"name": "resnet", "lam": None, "rank": 0,
               "layers": [list(l) for l in experts.layers("resnet")], "accuracy": None,
               "f_topology": None, "reward": None, **describe(experts.layers("resnet"))})
  net = latency_network(config)
  log(f"\nlatency of the top blocks in the {config.latency.network} network "
      f"(batch {config.latency.batch_size}, widths {net.widths})")
  rows = latency_job.measure(rows, net, config.latency, log=log)
  t_max = int(config.search.t_max)
  searched = [r for r in rows if r["lam"] is not None]
  render.draw_grid([from_layers([tuple(l) for l in r["layers"]], t_max=t_max)
                    for r in searched], os.path.join(workdir, "ablation_blocks.png"),
                   titles=[f"lambda={r['lam']:g} #{r['rank']} acc={r['accuracy']:.1f}%"
                           for r in searched], ncols=int(config.top_k))
  setting = (f"{config.search.evaluator.data.name}, {config.search.evaluator.network} "
             f"proxy network, {config.search.evaluator.epochs} epochs")
  plot(rows, os.path.join(workdir, "ablation.png"), setting)
  result = {"lams": [float(l) for l in config.lams], "top_k": int(config.top_k),
            "setting": setting, "latency_network": net.to_dict(),
            "rows": rows, "by_lambda": summarize_by_lambda(rows)}
  io.write_json(os.path.join(workdir, "ablation.json"), result)
  log("\n" + format_table(rows))
  for lam, s in result["by_lambda"].items():
    log(f"lambda {lam:>3}: mean proxy acc {s['accuracy_mean']:6.2f}%, mean latency "
        f"{s['latency_ms_mean']:8.2f} ms, layers {s['layers_mean']:.1f}, edges "
        f"{s['edges_mean']:.1f}, residual adds {s['residual_add']}/{s['blocks']}, "
        f"input shortcuts {s['input_shortcut']}/{s['blocks']}")
  log(f"wrote {os.path.join(workdir, 'ablation.json')}, ablation_blocks.png, ablation.png")
  return result
