"""The IRL job: fit the mirror stimuli function on the expert(s) (Alg. 1).

Writes to the workdir:
  mirror_stimuli.json   the fitted MSF (w, gamma, encoding, t_max, op set)
  irl_info.json         delta_history, gap_history, eps, chosen_round,
                        wall_time_s, every round's w, M and optimal block,
                        and the checks below
  irl_delta.png         delta (and delta + gap) per round, log scale
  irl_optimum.png       the block with the highest F under the fitted w

and prints the delta per round, then the checks that matter: the block that
maximises F (is it the expert?), and the expert's rank among random blocks.
"""

import os

from matplotlib.figure import Figure
import numpy as np

from irlas_jax import features
from irlas_jax import io
from irlas_jax.irl import analysis
from irlas_jax.irl import enumeration
from irlas_jax.irl import inverse_rl
from irlas_jax.spaces import experts as experts_lib
from irlas_jax.spaces import render
from irlas_jax.spaces.block import to_layers
import irlas_jax.strategies  # noqa: F401  (registers the 'qlearning' RL step)


def resolve_space_defaults(irl_config):
  """A copy of ``irl_config`` with unset ``experts`` / ``t_max`` filled in
  from the space's defaults (``experts.space_default(irl_config.space)``),
  and an unset ``rl_step`` set to ``"enumerate"`` for a space that can be
  listed (NAS-Bench-201), else ``"dp"``; an unset ``encoding`` is the
  space's own (``experts.space_encoding``) or the global default."""
  import irlas_jax.spaces  # noqa: F401  (registers every space's experts)
  irl_config = irl_config.copy_and_resolve_references()
  expert, t_max = experts_lib.space_default(irl_config.space)
  with irl_config.unlocked():
    if irl_config.get("experts") is None:
      irl_config.experts = (expert,)
    if irl_config.get("t_max") is None:
      irl_config.t_max = t_max
    if irl_config.get("encoding") is None:
      irl_config.encoding = (experts_lib.space_encoding(irl_config.space)
                             or features.DEFAULT_ENCODING)
    if irl_config.get("rl_step") is None:
      irl_config.rl_step = ("enumerate" if enumeration.enumerable(irl_config.space)
                            else "dp")
  for name in irl_config.experts:
    if experts_lib.opset(name).name != irl_config.space:
      raise ValueError(f"config.irl.experts: expert {name!r} is written in space "
                       f"{experts_lib.opset(name).name!r}, not config space "
                       f"{irl_config.space!r}; experts of that space: "
                       f"{', '.join(experts_lib.names(irl_config.space))}")
  return irl_config


def fit_and_check(irl_config, log=print):
  """Fits the MSF and adds the optimum / random-rank checks to ``info``."""
  irl_config = resolve_space_defaults(irl_config)
  msf, info = inverse_rl.fit(list(irl_config.experts), irl_config, log=log)
  mean, std = analysis.random_f_stats(msf, irl_config.num_random)
  msf = msf.replace(random_f_mean=mean, random_f_std=std)
  best, best_f = analysis.optimum(msf)
  expert = experts_lib.get(irl_config.experts[0], t_max=msf.t_max)
  info["optimal_block"] = to_layers(best)
  info["optimal_f"] = best_f
  info["optimal_is_expert"] = to_layers(best) == to_layers(expert)
  info["expert_vs_random"] = analysis.rank_among_random(msf, expert,
                                                        irl_config.num_random)
  return msf, info, best


def plot_deltas(info, path):
  fig = Figure(figsize=(5, 3.2), layout="constrained")
  ax = fig.add_subplot()
  rounds = np.arange(1, len(info["delta_history"]) + 1)
  deltas = np.maximum(np.asarray(info["delta_history"]), 1e-8)
  bound = deltas + np.asarray(info["gap_history"])
  ax.semilogy(rounds, deltas, "o-", label="margin delta")
  ax.semilogy(rounds, bound, "--", color="gray", label="delta + gap (certified)")
  ax.axhline(info["eps"], color="red", lw=0.8, label="eps")
  ax.axvline(info["chosen_round"], color="green", lw=0.8, ls=":", label="chosen w")
  ax.set_xlabel("round i of Alg. 1")
  ax.set_ylabel("margin")
  ax.set_title(f"max-margin IRL ({info['encoding']})")
  ax.legend(fontsize=7)
  fig.savefig(path, dpi=120)


def run(config, workdir):
  msf, info, best = fit_and_check(config.irl)
  msf.save(os.path.join(workdir, "mirror_stimuli.json"))
  io.write_json(os.path.join(workdir, "irl_info.json"), info)
  plot_deltas(info, os.path.join(workdir, "irl_delta.png"))
  render.draw(best, os.path.join(workdir, "irl_optimum.png"),
              title=f"argmax F ({info['encoding']})")
  rank = info["expert_vs_random"]
  print(f"\nfit: {info['rounds']} rounds, {info['wall_time_s']:.1f} s, "
        f"terminated={info['terminated']}, chosen round {info['chosen_round']}")
  print(f"block with the highest F: {info['optimal_block']} (F={info['optimal_f']:.4f})"
        f"{'  = the expert' if info['optimal_is_expert'] else ''}")
  print(f"expert F={rank['f']:.4f}; random blocks: max {rank['random_max']:.4f}, "
        f"mean {rank['random_mean']:.4f}, std {rank['random_std']:.4f}; "
        f"{rank['rank']} of {rank['num']} score at least as high"
        f"{' (every cell of the space, itself included)' if enumeration.enumerable(msf.opset.name) else ''}")
  print(f"wrote {os.path.join(workdir, 'mirror_stimuli.json')}")
  return msf, info
