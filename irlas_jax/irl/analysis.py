"""Diagnostics of a fitted mirror stimuli function (Sec. 3.3, 4.3).

* :func:`relative_changes`: the Sec. 4.3 / Fig. 6a study. For the expert and
  each edited block, the relative change of F,
  ``|F(edit) - F(expert)| / |F(expert)|``, next to the relative change of the
  raw feature count, ``||mu(edit) - mu(expert)|| / ||mu(expert)||``. The
  paper's claim: F changes little for small edits (a conv before or after the
  residual function) and more when the shortcut is removed, while mu is
  sensitive to every edit.
* :func:`optimum`: the block that maximises F (the DP-optimal policy of the
  reward ``w . phi``) and its F: "the highest for the exact expert network"
  (Sec. 3.3) means this block is the expert.
* :func:`rank_among_random`: how many of N ``sample_uniform`` blocks score at
  least as high as the expert (0 means the expert beats them all).

In a space that can be listed (:mod:`irlas_jax.irl.enumeration`, e.g.
NAS-Bench-201) "random blocks" are all of the space's architectures (the
uniform policy, exactly) and the optimum is the best of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from irlas_jax.irl import enumeration
from irlas_jax.irl import planner
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.spaces.block import Block, sample_uniform


def relative_changes(msf: MirrorStimuli, expert: Block,
                     edits: Sequence[Block]) -> list[dict[str, float]]:
  """Relative change of F and of mu from ``expert`` to each edit (Fig. 6a)."""
  mu_expert = np.asarray(msf.feature_count(expert), np.float64)
  f_expert = float(np.asarray(msf.w, np.float64) @ mu_expert)
  rows = []
  for edit in edits:
    mu = np.asarray(msf.feature_count(edit), np.float64)
    f = float(np.asarray(msf.w, np.float64) @ mu)
    rows.append({
        "f_expert": f_expert, "f_edit": f,
        "f_change": abs(f - f_expert) / max(abs(f_expert), 1e-12),
        "mu_change": float(np.linalg.norm(mu - mu_expert) / np.linalg.norm(mu_expert)),
    })
  return rows


def optimum(msf: MirrorStimuli) -> tuple[Block, float]:
  """The block with the highest F under ``msf`` (exact DP, or the best of
  the list in an enumerable space) and that F."""
  if enumeration.enumerable(msf.opset.name):
    blocks = enumeration.feature_counts(msf.opset.name, msf.t_max, msf.gamma,
                                        msf.encoding)[0]
    f = np.asarray(msf(blocks))
    best = int(np.argmax(f))
    return jax.tree_util.tree_map(lambda x: x[best], blocks), float(f[best])
  result = planner.plan(msf.w, msf.gamma, opset=msf.opset, t_max=msf.t_max,
                        encoding=msf.encoding)
  return result.block, float(result.value)


def random_f_stats(msf: MirrorStimuli, num: int = 10_000,
                   key: jax.Array | None = None) -> tuple[float, float]:
  """Mean and standard deviation of F over ``num`` ``sample_uniform`` blocks.

  The z-score ``(F - mean) / std`` makes lambda mean the same for every
  encoding and expert (the search's ``normalize_f``).
  """
  f = np.asarray(msf(_random_blocks(msf, num, key)), np.float64)
  return float(f.mean()), float(f.std())


def rank_among_random(msf: MirrorStimuli, block: Block, num: int = 10_000,
                      key: jax.Array | None = None) -> dict[str, float]:
  """How ``block`` scores against ``num`` uniform random blocks.

  Returns ``rank`` (the number of random blocks with F >= F(block)), the
  block's F, and the max, mean and std of F over the random blocks (the
  mean and std are what a z-scored reward would use).
  """
  randoms = _random_blocks(msf, num, key)
  f_random = np.asarray(msf(randoms), np.float64)
  f_block = float(msf(block))
  return {"rank": int(np.sum(f_random >= f_block)), "f": f_block, "num": int(f_random.size),
          "random_max": float(f_random.max()), "random_mean": float(f_random.mean()),
          "random_std": float(f_random.std())}


def _random_blocks(msf: MirrorStimuli, num: int, key) -> Block:
  """``num`` uniform random blocks, or every architecture of an enumerable space."""
  if enumeration.enumerable(msf.opset.name):
    return enumeration.feature_counts(msf.opset.name, msf.t_max, msf.gamma,
                                      msf.encoding)[0]
  key = jax.random.key(0) if key is None else key
  return sample_uniform(key, num, msf.t_max, msf.opset)
