"""The Sec. 4.3 / Fig. 6a analysis of the mirror stimuli function.

For each encoding in ``config.encodings``: fit on the expert
(``config.irl``), then measure the relative change of F and of mu from the
expert to each of ``config.modifications``; also the block with the highest
F and the expert's rank among random blocks, the evidence for choosing the
default encoding. Prints a table and writes ``analysis_msf.json`` and
``analysis_msf.png`` (grouped bars, one panel per encoding).
"""

import os

from matplotlib.figure import Figure
import numpy as np

from experiments.jobs import irl as irl_job
from irlas_jax import io
from irlas_jax.irl import analysis
from irlas_jax.spaces import experts as experts_lib


def plot(results, modifications, path):
  encodings = list(results)
  fig = Figure(figsize=(3.0 * len(encodings), 3.2), layout="constrained")
  axes = fig.subplots(1, len(encodings), squeeze=False)[0]
  x = np.arange(len(modifications))
  for ax, encoding in zip(axes, encodings):
    rows = results[encoding]["changes"]
    ax.bar(x - 0.2, [rows[m]["f_change"] for m in modifications], 0.4,
           label="mirror stimuli F")
    ax.bar(x + 0.2, [rows[m]["mu_change"] for m in modifications], 0.4,
           label="feature count mu")
    ax.set_xticks(x, [m.replace("resnet_", "") for m in modifications])
    ax.set_title(encoding, fontsize=9)
  axes[0].set_ylabel("relative change vs. expert")
  axes[0].legend(fontsize=7)
  fig.savefig(path, dpi=120)


def run(config, workdir):
  expert_name = config.irl.experts[0]
  results = {}
  for encoding in config.encodings:
    irl_config = config.irl.copy_and_resolve_references()
    irl_config.unlock()
    irl_config.encoding = encoding
    print(f"\n== encoding {encoding}")
    msf, info, _ = irl_job.fit_and_check(irl_config, log=None)
    expert = experts_lib.get(expert_name, t_max=msf.t_max)
    edits = [experts_lib.get(m, t_max=msf.t_max) for m in config.modifications]
    changes = dict(zip(config.modifications, analysis.relative_changes(msf, expert, edits)))
    results[encoding] = {
        "changes": changes, "rounds": info["rounds"], "terminated": info["terminated"],
        "wall_time_s": info["wall_time_s"], "optimal_block": info["optimal_block"],
        "optimal_f": info["optimal_f"], "optimal_is_expert": info["optimal_is_expert"],
        "expert_vs_random": info["expert_vs_random"], "w": np.asarray(msf.w).tolist(),
    }
    for m, row in changes.items():
      print(f"  {m:<16} F change {row['f_change']:8.3f}   mu change {row['mu_change']:8.3f}")
    print(f"  argmax F: {len(info['optimal_block'])} layers"
          f"{' (the expert)' if info['optimal_is_expert'] else ''}; expert rank among "
          f"random: {info['expert_vs_random']['rank']}")
  io.write_json(os.path.join(workdir, "analysis_msf.json"), results)
  plot(results, list(config.modifications), os.path.join(workdir, "analysis_msf.png"))
  _print_table(results, list(config.modifications))
  return results


def _print_table(results, modifications):
  short = [m.replace("resnet_", "") for m in modifications]
  head = " ".join(f"{'F ' + s:>10} {'mu ' + s:>10}" for s in short)
  print(f"\n{'encoding':<16} {head} {'argmax=expert':>14} {'rank':>6}")
  for encoding, r in results.items():
    cells = " ".join(f"{r['changes'][m]['f_change']:10.3f} {r['changes'][m]['mu_change']:10.3f}"
                     for m in modifications)
    print(f"{encoding:<16} {cells} {str(r['optimal_is_expert']):>14} "
          f"{r['expert_vs_random']['rank']:>6}")
