"""Fig. 5 (DARTS half): convergence with and without the topology loss (Sec. 4.4).

Runs the DARTS search of ``config`` once per (topology weight, seed), the
same seeds and the same MSF for every weight, each run in
``<workdir>/w<weight>_seed<seed>/`` (the darts job's outputs), then writes:

  convergence.json   per weight: per-seed and mean/std per epoch of the
                     supernet validation accuracy, the derived genotype's F
                     and the expected F under alpha; and ``note``, a plain
                     statement of what the runs show, computed from them
  convergence.png    validation accuracy and F(derived genotype) per epoch,
                     one colour per weight, thin lines per seed, thick means
"""

from __future__ import annotations

import os

import jax
from matplotlib.figure import Figure
import numpy as np

from experiments.jobs import darts as darts_job
from irlas_jax import io

SERIES = ("val_accuracy", "genotype_f", "expected_f")


def _label(weight: float) -> str:
  return f"topology loss x {weight:g}" if weight > 0 else "plain DARTS (no topology loss)"


def summarise(histories: dict[float, list[list[dict]]]) -> dict:
  """Per weight: per-seed series and their mean and std per epoch."""
  out = {}
  for weight, runs in histories.items():
    entry = {}
    for series in SERIES:
      values = np.array([[r[series] for r in run] for run in runs], np.float64)
      entry[series] = {"per_seed": values.tolist(), "mean": values.mean(0).tolist(),
                       "std": values.std(0).tolist()}
    entry["final_genotypes"] = [run[-1]["genotype"] for run in runs]
    out[f"{weight:g}"] = entry
  return out


def note(summary: dict, weights, seeds) -> str:
  """What the runs show, in numbers (no claim the numbers do not carry)."""
  on, off = f"{max(weights):g}", f"{min(weights):g}"
  a, b = summary[on], summary[off]
  n = len(seeds)

  def final(entry, series):
    v = np.array(entry[series]["per_seed"])[:, -1]
    return v.mean(), v.std() / np.sqrt(n)

  lines = []
  for series, name in (("genotype_f", "F of the derived genotype"),
                       ("expected_f", "expected F under alpha"),
                       ("val_accuracy", "supernet validation accuracy (%)")):
    (ma, sa), (mb, sb) = final(a, series), final(b, series)
    diff = ma - mb
    se = float(np.hypot(sa, sb))
    verdict = ("higher" if diff > 2 * se else "lower" if diff < -2 * se
               else "not distinguishable (|difference| < 2 standard errors)")
    lines.append(f"final {name}: {ma:.4f} +- {sa:.4f} with the topology loss (weight {on}) "
                 f"vs {mb:.4f} +- {sb:.4f} without; with it the value is {verdict}.")
  acc_a = np.array(a["val_accuracy"]["mean"])
  acc_b = np.array(b["val_accuracy"]["mean"])
  lines.append("mean validation accuracy per epoch with / without: "
               + ", ".join(f"{x:.1f}/{y:.1f}" for x, y in zip(acc_a, acc_b)) + ".")
  lines.append(f"{n} seeds per condition (+- is the standard error over seeds).")
  return " ".join(lines)


def plot(summary: dict, path: str) -> None:
  fig = Figure(figsize=(10, 3.6), layout="constrained")
  axes = fig.subplots(1, 2)
  colors = {0: "tab:red", 1: "tab:blue", 2: "tab:green"}
  for c, (weight, entry) in enumerate(summary.items()):
    color = colors.get(c, None)
    for ax, series, ylabel in zip(axes, ("val_accuracy", "genotype_f"),
                                  ("supernet validation accuracy (%)",
                                   "F of the derived genotype")):
      per_seed = np.array(entry[series]["per_seed"])
      epochs = np.arange(1, per_seed.shape[1] + 1)
      for run in per_seed:
        ax.plot(epochs, run, color=color, lw=0.7, alpha=0.4)
      ax.plot(epochs, per_seed.mean(0), color=color, lw=2.2,
              label=_label(float(weight)))
      ax.set_xlabel("epoch")
      ax.set_ylabel(ylabel)
  axes[0].legend(fontsize=8)
  fig.suptitle("DARTS search with and without the topology loss (thin: seeds, thick: mean)",
               fontsize=10)
  fig.savefig(path, dpi=120)


def run(config, workdir):
  if config.get("compilation_cache_dir"):
    jax.config.update("jax_compilation_cache_dir", config.compilation_cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  ds = darts_job.load_data(config)
  msf = darts_job.load_or_fit_msf(config, workdir)
  steps = min(ds.train.num_batches(config.darts.batch_size),
              ds.validation.num_batches(config.darts.batch_size))
  histories = {}
  grad_fn = None  # one compiled supernet for every condition
  for weight in config.topology_weights:
    run_config = config.copy_and_resolve_references()
    with run_config.unlocked():
      run_config.darts.topology.weight = float(weight)
    searcher = darts_job.Searcher(run_config, ds.image_shape, ds.num_classes, steps, msf,
                                  grad_fn)
    grad_fn = searcher.grad_fn
    histories[float(weight)] = []
    for seed in config.seeds:
      print(f"== topology weight {weight:g}, seed {seed}")
      run_dir = os.path.join(workdir, f"w{weight:g}_seed{seed}")
      histories[float(weight)].append(darts_job.search(searcher, ds, int(seed), run_dir))
  summary = summarise(histories)
  result = {"weights": [float(w) for w in config.topology_weights],
            "seeds": list(config.seeds), "epochs": config.darts.epochs,
            "conditions": summary,
            "note": note(summary, config.topology_weights, config.seeds)}
  io.write_json(os.path.join(workdir, "convergence.json"), result)
  plot(summary, os.path.join(workdir, "convergence.png"))
  print(result["note"])
  return result
