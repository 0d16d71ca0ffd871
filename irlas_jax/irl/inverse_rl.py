"""Alg. 1: max-margin inverse RL for the mirror stimuli function (Sec. 3.3).

    pick pi_0 (the uniform random policy), M_0 = E_{pi_0}[mu]
    repeat for i = 1, 2, ...
      w_i, delta_i, gap_i = max-margin QP (Eq. 8) over {M_0 .. M_{i-1}}
      stop if delta_i + gap_i <= eps
      pi_i = optimal policy for r(s) = w_i . phi(s)   (the RL step)
      M_i  = E_{pi_i}[mu]

* ``mu_star`` is the mean feature count of the expert block(s) (several
  experts are allowed: the paper's future work).
* ``M_0`` is a Monte-Carlo mean over ``config.num_random`` blocks of
  ``sample_uniform`` (vmapped, one call); in a space that can be listed
  (:mod:`irlas_jax.irl.enumeration`: NAS-Bench-201) it is the exact mean
  over all of the space's architectures.
* The RL step is pluggable (``config.rl_step``, see :data:`RL_STEPS`): by
  default the exact dynamic programme of :mod:`irlas_jax.irl.planner`
  (deterministic, known MDP); ``"enumerate"`` takes the best architecture of
  an enumerable space (:mod:`irlas_jax.irl.enumeration`); the search's tabular Q-learning agent registers
  the step the paper describes.
* Termination uses ``delta + gap <= eps``, where ``gap`` certifies how far the
  solver's margin can be from the true optimum, so solver error can never be
  what stops the fit: the true margin is certainly below eps.
* The rows ``M_j`` are padded to ``max_rounds + 1`` with a mask, so the QP
  solver compiles once per fit; the planner compiles once per space.

Which w is returned. The QP of the terminating round is degenerate: the
expert's feature count is (within eps) a mixture of the policies found, the
margin is about 0 and its w says little. What the user wants is a reward
under which the expert is (close to) the best block, i.e. the reward whose
optimal policy *closed the gap*. We return w_j of the round j whose optimal
policy's feature expectation M_j is nearest to mu_star (the latest such round
on ties). When the expert is reachable as an optimal policy (an encoding
with position, see :mod:`irlas_jax.features.state`), that policy is the
expert itself, M_j = mu_star, the next QP's margin is 0 and the fit stops:
w_j makes the expert the DP optimum. ``info["chosen_round"]`` says which
round was taken and ``info["chosen_distance"]`` how far its M_j was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from irlas_jax import features
from irlas_jax.irl import enumeration
from irlas_jax.irl import max_margin_solver as max_margin_lib
from irlas_jax.irl import planner
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.spaces import experts as experts_lib
from irlas_jax.spaces.block import Block, sample_uniform, to_layers
from irlas_jax.spaces.opset import OpSet, get_opset

# rl_step(w, key, *, gamma, encoding, opset, t_max, config) -> (block, M):
# the (near-)optimal policy for reward w . phi, represented by one block (a
# deterministic policy) and its feature expectation M.
RLStep = Callable[..., tuple[Block, jax.Array]]
RL_STEPS: dict[str, RLStep] = {}


def register_rl_step(name: str, fn: RLStep) -> RLStep:
  """Adds an RL step selectable with ``config.rl_step = name``."""
  RL_STEPS[name] = fn
  return fn


def dynamic_programming_step(w, key, *, gamma, encoding, opset, t_max, config):
  """The exact optimal policy by backward DP (see :mod:`irlas_jax.irl.planner`)."""
  del key, config
  result = planner.plan(w, gamma, opset=opset, t_max=t_max, encoding=encoding)
  return result.block, features.feature_count(result.block, gamma, encoding)


register_rl_step("dp", dynamic_programming_step)
register_rl_step("enumerate", enumeration.enumeration_step)


def default_config() -> ml_collections.ConfigDict:
  """Settings of Alg. 1 (the paper gives none of these numbers)."""
  config = ml_collections.ConfigDict()
  config.experts = ("resnet",)  # names in irlas_jax.spaces.experts
  config.space = "block"  # op set name
  config.t_max = 24  # Sec. 4.1
  config.encoding = features.DEFAULT_ENCODING
  config.gamma = features.DEFAULT_GAMMA  # discount of mu (Eq. 2)
  config.eps = 1e-3  # stop when delta + gap <= eps (Alg. 1)
  config.max_rounds = 100
  config.rl_step = "dp"  # key of RL_STEPS
  config.num_random = 10_000  # Monte-Carlo blocks for M_0 of pi_0
  config.seed = 0
  config.solver = max_margin_lib.default_config()
  return config


def _expert_blocks(experts, t_max: int) -> list[Block]:
  if isinstance(experts, (str, Block)):
    experts = [experts]
  if not experts:
    raise ValueError("fit needs at least one expert")
  blocks = [experts_lib.get(e, t_max=t_max) if isinstance(e, str) else e for e in experts]
  for i, b in enumerate(blocks):
    if not isinstance(b, Block) or b.batch_shape:
      raise ValueError(f"expert {i} must be an expert name or a single Block")
    if b.t_max != t_max:
      raise ValueError(f"expert {i} has t_max {b.t_max}, config.t_max is {t_max}")
  return blocks


def fit(experts: str | Block | Sequence[str | Block],
        config: ml_collections.ConfigDict | None = None,
        log: Callable[[str], None] | None = print) -> tuple[MirrorStimuli, dict[str, Any]]:
  """Runs Alg. 1 on ``experts``; returns the fitted MSF and a record.

  Args:
    experts: expert names (``irlas_jax.spaces.experts``) or Blocks.
    config: :func:`default_config` fields (None: defaults).
    log: called with one line per round (None: silent).

  Returns:
    ``(msf, info)``; ``info`` has ``delta_history``, ``gap_history``, every
    round's ``w`` and ``M``, the optimal blocks found (as layer lists),
    ``M_0``, ``mu_star``, ``chosen_round``, ``chosen_distance``,
    ``terminated``, ``rounds``, ``eps`` and ``wall_time_s``.
  """
  start = time.perf_counter()
  config = default_config() if config is None else config
  if config.rl_step not in RL_STEPS:
    raise ValueError(f"config.rl_step={config.rl_step!r} is not a known RL step; "
                     f"known: {', '.join(sorted(RL_STEPS))} (the Q-learning step "
                     f"'qlearning' registers when irlas_jax.strategies is imported)")
  opset: OpSet = get_opset(config.space)
  t_max, gamma, encoding = int(config.t_max), float(config.gamma), config.encoding
  features.get_encoding(encoding)  # a clear error for a typo
  if config.max_rounds < 1:
    raise ValueError(f"config.max_rounds must be >= 1, got {config.max_rounds}")
  rl_step = RL_STEPS[config.rl_step]
  key = jax.random.key(config.seed)

  blocks = _expert_blocks(experts, t_max)
  mu_star = jnp.mean(jnp.stack([features.feature_count(b, gamma, encoding)
                                for b in blocks]), axis=0)
  key, key_random = jax.random.split(key)
  if enumeration.enumerable(opset.name):
    m0 = enumeration.random_policy_mu(opset.name, t_max, gamma, encoding)
  else:
    random_blocks = sample_uniform(key_random, int(config.num_random), t_max, opset)
    m0 = jnp.mean(features.feature_count(random_blocks, gamma, encoding), axis=0)

  rows = int(config.max_rounds) + 1
  mus = jnp.zeros((rows, mu_star.shape[0]), jnp.float32).at[0].set(m0)
  mask = np.zeros(rows, bool)
  mask[0] = True
  deltas, gaps, ws, ms, found = [], [], [], [np.asarray(m0)], []
  terminated = False
  for i in range(1, rows):
    w, delta, gap = max_margin_lib.max_margin(mu_star, mus, config.solver, mask)
    deltas.append(float(delta))
    gaps.append(float(gap))
    if deltas[-1] + gaps[-1] <= config.eps:
      terminated = True
      if log:
        log(f"irl round {i:3d}: delta {deltas[-1]:.6f} + gap {gaps[-1]:.2e} <= "
            f"eps {config.eps}: done")
      break
    key, key_step = jax.random.split(key)
    block, m = rl_step(w, key_step, gamma=gamma, encoding=encoding, opset=opset,
                       t_max=t_max, config=config)
    ws.append(np.asarray(w))
    ms.append(np.asarray(m))
    found.append(to_layers(block))
    mus = mus.at[i].set(m)
    mask[i] = True
    if log:
      log(f"irl round {i:3d}: delta {deltas[-1]:.6f} gap {gaps[-1]:.2e} "
          f"|M_i - mu*| {float(jnp.linalg.norm(m - mu_star)):.4f} "
          f"policy: {len(found[-1])} layers")
  if not ws:
    raise ValueError(
        f"the expert's feature count is already within eps={config.eps} of the "
        f"random policy's: nothing to fit (margin {deltas[0]:.3g})")
  distances = np.linalg.norm(np.stack(ms[1:]) - np.asarray(mu_star), axis=1)
  # Latest round among the nearest (ties within float noise).
  chosen = int(np.flatnonzero(distances <= distances.min() + 1e-6)[-1])
  msf = MirrorStimuli(jnp.asarray(ws[chosen]), gamma, encoding, t_max, opset)
  info = {
      "experts": [to_layers(b) for b in blocks],
      "encoding": encoding, "gamma": gamma, "t_max": t_max, "eps": float(config.eps),
      "rl_step": config.rl_step,
      "delta_history": deltas, "gap_history": gaps,
      "w_history": [w.tolist() for w in ws], "M_history": [m.tolist() for m in ms],
      "policy_blocks": found, "mu_star": np.asarray(mu_star).tolist(),
      "chosen_round": chosen + 1, "chosen_distance": float(distances[chosen]),
      "terminated": terminated, "rounds": len(deltas),
      "wall_time_s": time.perf_counter() - start,
  }
  if log and not terminated:
    log(f"irl: no termination within {config.max_rounds} rounds (last delta + gap "
        f"{deltas[-1] + gaps[-1]:.4g} > eps {config.eps}); returning round {chosen + 1}")
  return msf, info
