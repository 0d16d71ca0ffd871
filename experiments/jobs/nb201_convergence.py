"""The Fig. 5 study on NAS-Bench-201: every strategy, with and without the MSF.

For each strategy and lambda, ``num_seeds`` independent searches run as one
vmapped program (:mod:`irlas_jax.search.tabular`); the same seed keys serve
every (strategy, lambda). Writes to the workdir:

  mirror_stimuli.json   the MSF used (fitted by Alg. 1 unless msf_path is set)
  convergence.json      per strategy and lambda, after every evaluation n:
                        mean and 95% interval (normal, of the mean over
                        seeds) of the best-so-far test accuracy (the cell
                        chosen by validation accuracy); the same at the
                        configured checkpoints; the difference to lambda = 0
                        with its 95% interval (Welch); evaluations needed to
                        reach the lambda = 0 curve's final mean; mean number
                        of distinct cells; wall time
  convergence.png       the curves (one panel per strategy), as in Fig. 5

and prints a table of the checkpoints.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
from matplotlib.figure import Figure
import numpy as np

from experiments.jobs import irl as irl_job
from irlas_jax import io
from irlas_jax import strategies
from irlas_jax.evaluate import tabular
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.search import tabular as tabular_search
from irlas_jax.spaces import nb201

Z95 = 1.959964


def load_msf(config, workdir, log=print) -> MirrorStimuli:
  """The MSF of ``config.msf_path``, or fitted by Alg. 1 on the ResNet cell."""
  irl = irl_job.resolve_space_defaults(config.irl)
  if config.msf_path:
    return MirrorStimuli.load(config.msf_path, encoding=irl.encoding, t_max=irl.t_max,
                              opset=nb201.NB201_OPS)
  log(f"fitting the mirror stimuli function on {list(irl.experts)} "
      f"({irl.encoding}, RL step {irl.rl_step})")
  msf, info, _ = irl_job.fit_and_check(irl, log=None)
  log(f"  {info['rounds']} rounds; the ResNet cell is the best cell: "
      f"{info['optimal_is_expert']} ({info['expert_vs_random']['rank']} of 15625 cells, "
      f"itself included, score at least as high)")
  msf.save(os.path.join(workdir, "mirror_stimuli.json"))
  return msf


def strategy_config(config, name: str):
  """The config one strategy reads: space, batch size, budget, sub-configs."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.batch_size = int(config.batch_sizes[name])
  return c


def summarize(best_test: np.ndarray) -> dict:
  """Mean and 95% interval over seeds of ``best_test[seeds, budget]``."""
  mean = best_test.mean(axis=0)
  half = Z95 * best_test.std(axis=0, ddof=1) / np.sqrt(best_test.shape[0])
  return {"mean": mean, "lo": mean - half, "hi": mean + half}


def evaluations_to_reach(mean_curve: np.ndarray, level: float) -> int | None:
  """First n (1-based) at which the mean curve reaches ``level``."""
  hit = np.flatnonzero(mean_curve >= level)
  return int(hit[0]) + 1 if hit.size else None


def run(config, workdir):
  if not config.lams or min(config.lams) < 0:
    raise ValueError(f"config.lams must be non-negative values, got {config.lams}")
  if 0.0 not in [float(x) for x in config.lams]:
    raise ValueError("config.lams must include 0.0, the baseline every lambda is compared to")
  if int(config.num_seeds) < 2:
    raise ValueError(f"config.num_seeds must be >= 2 for an interval, got {config.num_seeds}")
  table = tabular.load_table(config.table_path, (config.search_column, config.report_column))
  msf = load_msf(config, workdir)
  f, _, _ = tabular_search.f_table(msf)
  budget, num_seeds = int(config.budget), int(config.num_seeds)
  keys = jax.random.split(jax.random.key(int(config.seed)), num_seeds)
  plain = tabular_search.make_tables(table.column(config.search_column),
                                     table.column(config.report_column))
  with_msf = tabular_search.make_tables(plain.val, plain.test, f)
  checkpoints = [n for n in config.checkpoints if n <= budget]

  results = {"budget": budget, "num_seeds": num_seeds, "checkpoints": checkpoints,
             "lams": [float(x) for x in config.lams], "encoding": msf.encoding,
             "search_column": config.search_column, "report_column": config.report_column,
             "best_possible": float(jnp.max(plain.test)),
             "strategies": {}}
  for name in config.strategies:
    strategy = strategies.get(name)
    search = tabular_search.make_batched_search(strategy, strategy_config(config, name), budget)
    per_lam = {}
    base_curve = None
    for lam in config.lams:
      lam = float(lam)
      start = time.perf_counter()
      history = jax.device_get(search(keys, plain if lam == 0 else with_msf, jnp.float32(lam)))
      seconds = time.perf_counter() - start
      best = np.asarray(history.best_test, np.float64)
      summary = summarize(best)
      row = {"wall_s": seconds, "distinct_mean": float(np.mean(history.distinct)),
             "curve": {k: v.tolist() for k, v in summary.items()},
             "at": {str(n): {"mean": float(summary["mean"][n - 1]),
                             "lo": float(summary["lo"][n - 1]),
                             "hi": float(summary["hi"][n - 1])} for n in checkpoints},
             "mean_f_z_of_proposals": float(np.mean(np.asarray(with_msf.f_z)[history.codes]))}
      if lam == 0.0:
        base_curve, base_best = summary["mean"], best
      else:
        row["vs_lambda_0"] = {}
        for n in checkpoints:
          a, b = best[:, n - 1], base_best[:, n - 1]
          diff = a.mean() - b.mean()
          half = Z95 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
          row["vs_lambda_0"][str(n)] = {"diff": float(diff), "lo": float(diff - half),
                                       "hi": float(diff + half)}
        level = float(base_curve[-1])
        row["evaluations_to_reach_lambda0_final"] = evaluations_to_reach(summary["mean"], level)
      per_lam[str(lam)] = row
      print(f"{name:<15} lam {lam:5.1f}: best-so-far test at {budget}: "
            f"{summary['mean'][-1]:.2f} [{summary['lo'][-1]:.2f}, {summary['hi'][-1]:.2f}]"
            f"  distinct {row['distinct_mean']:.0f}  ({seconds:.1f} s, {num_seeds} seeds)",
            flush=True)
    results["strategies"][name] = per_lam
  io.write_json(os.path.join(workdir, "convergence.json"), results)
  plot(results, os.path.join(workdir, "convergence.png"))
  print_table(results)
  return results


def plot(results, path):
  names = list(results["strategies"])
  fig = Figure(figsize=(4.2 * len(names), 3.6), layout="constrained")
  axes = fig.subplots(1, len(names), squeeze=False)[0]
  n = np.arange(1, results["budget"] + 1)
  for ax, name in zip(axes, names):
    for lam, row in results["strategies"][name].items():
      c = row["curve"]
      label = "lambda = 0 (no MSF)" if float(lam) == 0 else f"lambda = {float(lam):g}"
      line, = ax.plot(n, c["mean"], lw=1.2, label=label)
      ax.fill_between(n, c["lo"], c["hi"], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("evaluations")
    ax.set_title(name)
    low = min(min(r["curve"]["mean"][min(9, len(n) - 1):])
              for r in results["strategies"][name].values())
    ax.set_ylim(low - 0.5, results["best_possible"] + 0.2)
    ax.axhline(results["best_possible"], color="gray", lw=0.6, ls=":")
  axes[0].set_ylabel(f"best-so-far {results['report_column']} (%)")
  axes[-1].legend(fontsize=7, loc="lower right")
  fig.suptitle(f"NAS-Bench-201, {results['num_seeds']} seeds, mean and 95% interval",
               fontsize=9)
  fig.savefig(path, dpi=120)


def print_table(results):
  checkpoints = results["checkpoints"]
  head = "".join(f"{'n=' + str(n):>16}" for n in checkpoints)
  print(f"\n{'strategy':<15} {'lambda':>6}{head} {'distinct':>9} {'n to reach':>11}")
  for name, per_lam in results["strategies"].items():
    for lam, row in per_lam.items():
      cells = ""
      for n in checkpoints:
        at = row["at"][str(n)]
        if "vs_lambda_0" in row:
          d = row["vs_lambda_0"][str(n)]["diff"]
          cells += f"{at['mean']:>8.2f} ({d:+5.2f})"
        else:
          cells += f"{at['mean']:>16.2f}"
      reach = row.get("evaluations_to_reach_lambda0_final", "-")
      print(f"{name:<15} {float(lam):>6g}{cells} {row['distinct_mean']:>9.0f} "
            f"{str(reach):>11}")
  print("(mean best-so-far test accuracy; in brackets the difference to lambda = 0; "
        "'n to reach': evaluations the mean curve needs to reach lambda = 0's final value)")
