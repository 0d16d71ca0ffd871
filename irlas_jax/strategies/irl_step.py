"""The paper's RL step of Alg. 1: the tabular Q-learning agent.

Alg. 1 asks a "standard RL algorithm" for the optimal policy under the
reward ``r(s) = w . phi(s)``. The exact DP of :mod:`irlas_jax.irl.planner`
is the default (the block MDP is known and deterministic); this module adds
what the paper describes, the search's own Q-learning agent trained on the
reward ``F_w(block) = w . mu(block)`` alone, selectable as
``config.irl.rl_step = "qlearning"``.

The agent's reward is ``rl_reward_scale * F_w`` (default 30, the search's
lambda, so the agent sees the reward scale it sees in the search; with
``|w| <= 1`` the raw F is only a few units, small against Q's initial 0.5).
The step runs the agent's whole epsilon schedule (``config.qlearning``, or
the search defaults: 178 iterations of 64 blocks) as one jitted
``lax.scan`` and returns its greedy block and that block's feature count.
The agent only approximates the optimum, so Alg. 1 with this step may need
more rounds than with DP, or stop at ``max_rounds``; ``benchmarks/irl_fit.py``
measures both.

It is registered when :mod:`irlas_jax.strategies` is imported (the IRL
layer sits below the strategies and does not import them).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections

from irlas_jax import features
from irlas_jax.irl import inverse_rl
from irlas_jax.strategies import qlearning as ql


@functools.partial(jax.jit, static_argnames=("settings", "encoding", "gamma"))
def _train(w, key, scale, *, settings: ql.QLearningSettings, encoding: str,
           gamma: float):
  state = ql.init_from_settings(settings)

  def iteration(state, key):
    blocks, aux = ql.propose(state, key)
    rewards = scale * (features.feature_count(blocks, gamma, encoding) @ w)
    return ql.update(state, blocks, rewards, aux), None

  state, _ = jax.lax.scan(iteration, state,
                          jax.random.split(key, settings.num_iterations))
  return ql.greedy_block(state)


def qlearning_rl_step(w, key, *, gamma, encoding, opset, t_max, config):
  """Greedy block of a Q-learning agent trained on reward w . mu, and its mu."""
  search_like = ml_collections.ConfigDict({
      "space": opset.name, "t_max": t_max,
      "batch_size": int(config.get("rl_batch_size", 64)),
      "qlearning": config.get("qlearning", None) or ql.default_config()})
  settings = ql.settings_from_config(search_like)
  scale = jnp.float32(config.get("rl_reward_scale", 30.0))
  block = _train(jnp.asarray(w, jnp.float32), key, scale, settings=settings,
                 encoding=encoding, gamma=float(gamma))
  return block, features.feature_count(block, gamma, encoding)


inverse_rl.register_rl_step("qlearning", qlearning_rl_step)
