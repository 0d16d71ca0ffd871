"""The RL step of Alg. 1 by exact dynamic programming over (layer index, layer).

Alg. 1 needs, for a reward ``r(s) = w . phi(s)``, the optimal policy and its
feature expectation ``M``. The block MDP is deterministic and known: the
state after step ``t`` is the layer just placed (its index ``t`` and its
layer code, see :mod:`irlas_jax.spaces.layers`); an action places the next
layer, any layer valid at index ``t + 1``, or terminates; a block has at
least one layer and ends at ``t_max``. The return of a block is
``sum_t gamma^t w . phi(s_t) = w . mu`` (Eq. 4), so the optimal policy is the
block that maximises F.

Because the layers valid at index ``t + 1`` do not depend on which layer was
placed at ``t``, one backward pass solves it exactly:

    Q(t, c) = gamma^t w . phi(t, c) + max(0, V(t + 1)),   V(t) = max_c Q(t, c),

with ``V(t_max + 1) = 0`` and the 0 standing for "terminate". The greedy
rollout from ``t = 1`` gives the optimal (deterministic) policy's block and
its feature expectation ``M = mu(block)``. Ties: among layers, the lowest
code wins; between continuing and stopping, stopping wins (a continuation
must add strictly positive value), so among equally good blocks the shortest
is returned.

This relies on phi being a per-layer state feature (row ``t`` of phi depends
only on layer ``t``), which holds for every registered encoding and is the
paper's definition of a state feature (Sec. 3.2).

The table ``phi(t, c)`` (``[t_max, num_codes, k]``) is built once per
(op set, t_max, encoding); the pass itself is a ``lax.scan`` under jit, a
few milliseconds for the block space at ``t_max = 24``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax import features
from irlas_jax.spaces.block import Block
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import OpSet


class Plan(NamedTuple):
  """The optimal policy for a linear reward.

  Attributes:
    block: the optimal block (the deterministic policy's only trajectory).
    value: its return ``w . mu(block)`` (= V(1)).
    q: float32[t_max, num_codes], Q(t, c) with -inf where code c is invalid
      at index t.
  """
  block: Block
  value: jax.Array
  q: jax.Array


@functools.lru_cache(maxsize=16)
def layer_feature_table(opset: OpSet, t_max: int, encoding: str) -> np.ndarray:
  """phi of every layer code at every index: float32[t_max, num_codes, k].

  Entries for codes that are not valid at an index are computed but
  meaningless; consumers mask them with ``layer_codes(...).count``.
  """
  codes = layer_codes(opset, t_max)
  fn = features.get_encoding(encoding).fn

  def at_every_index(op, pred):
    return fn(jnp.full((t_max,), op), jnp.arange(1, t_max + 1),
              jnp.broadcast_to(pred, (t_max, 2)), opset, t_max)

  with jax.ensure_compile_time_eval():  # a constant even when called under jit
    table = jax.jit(jax.vmap(at_every_index))(codes.op, codes.pred)
    table = np.asarray(jnp.swapaxes(table, 0, 1), np.float32)
  table.setflags(write=False)
  return table


@functools.partial(jax.jit, static_argnames=("opset", "t_max", "encoding"))
def plan(w: jax.Array, gamma: float, *, opset: OpSet, t_max: int,
         encoding: str) -> Plan:
  """The optimal block for reward ``r(s_t) = w . phi(s_t)`` (discount gamma)."""
  codes = layer_codes(opset, t_max)
  table = jnp.asarray(layer_feature_table(opset, t_max, encoding))
  if w.shape != (table.shape[-1],):
    raise ValueError(f"w has shape {w.shape}, expected ({table.shape[-1]},) for "
                     f"encoding {encoding!r}, t_max {t_max}")
  t = jnp.arange(1, t_max + 1)
  valid = jnp.arange(codes.size)[None, :] < jnp.asarray(codes.count[1:])[:, None]
  reward = (jnp.asarray(gamma, jnp.float32) ** t)[:, None] * (table @ w)
  reward = jnp.where(valid, reward, -jnp.inf)

  def backward(v_next, reward_t):
    q_t = reward_t + jnp.maximum(0.0, v_next)
    return jnp.max(q_t), (q_t, v_next)

  # V(t_max + 1) = 0: the block ends at t_max whatever the agent wants.
  _, (q, v_after) = jax.lax.scan(backward, jnp.float32(0.0), reward, reverse=True)
  best = jnp.argmax(q, axis=1)  # lowest code among ties
  # Continue past t only if what follows adds strictly positive value.
  go_on = (v_after > 0) & (t < t_max)
  length = 1 + jnp.sum(jnp.cumprod(go_on.astype(jnp.int32)))
  real = t <= length
  op = jnp.where(real, jnp.asarray(codes.op)[best], opset.pad_id)
  pred = jnp.where(real[:, None], jnp.asarray(codes.pred)[best], 0)
  block = Block(op.astype(jnp.int32), pred.astype(jnp.int32), length.astype(jnp.int32),
                opset)
  return Plan(block, jnp.max(q[0]), q)
