"""The RL step of Alg. 1 by enumeration, for search spaces small enough to list.

In a space with a finite list of architectures (NAS-Bench-201: 15,625 cells)
the optimal deterministic policy for the reward ``w . phi`` is simply the
architecture with the largest ``w . mu``: one matrix-vector product over the
precomputed feature counts of every architecture. It is exact, and unlike the
layer-sequence DP (:mod:`irlas_jax.irl.planner`) it only returns
architectures of the space, so the policies of Alg. 1, and the random policy
``pi_0`` (uniform over the list, the distribution random search samples),
live in the space being searched.

Why this matters: with the DP over all layer sequences of the NAS-Bench-201
op set, Alg. 1 terminated with the ResNet cell's feature count inside the
convex hull of 14 layer sequences that are not cells (9 stacked convs, 9
skips, ...), and no round's reward ranked the ResNet cell better than 2,441st
of the 15,625 cells (relative_depth encoding). Over the cells themselves the
expert is an extreme point whenever some reward makes it the unique best cell,
and the fit ends when the RL step returns the expert.

``register_space(name, all_blocks)`` adds a space; NAS-Bench-201 is built in.
"""

from __future__ import annotations

from collections.abc import Callable
import functools

import jax
import jax.numpy as jnp

from irlas_jax import features
from irlas_jax.spaces import nb201
from irlas_jax.spaces.block import Block

_SPACES: dict[str, Callable[[int], Block]] = {"nb201": nb201.all_blocks}


def register_space(name: str, all_blocks: Callable[[int], Block]) -> None:
  """Makes op set ``name`` enumerable: ``all_blocks(t_max)`` lists its archs."""
  _SPACES[name] = all_blocks


def enumerable(space: str) -> bool:
  return space in _SPACES


@functools.lru_cache(maxsize=8)
def feature_counts(space: str, t_max: int, gamma: float, encoding: str) -> tuple[Block, jax.Array]:
  """Every architecture of ``space`` and its feature count ``mu`` (``[n, k]``)."""
  if space not in _SPACES:
    raise ValueError(f"space {space!r} cannot be enumerated; enumerable spaces: "
                     f"{', '.join(_SPACES)}")
  blocks = _SPACES[space](t_max)
  return blocks, features.feature_count(blocks, gamma, encoding)


def random_policy_mu(space: str, t_max: int, gamma: float, encoding: str) -> jax.Array:
  """``M_0``: the exact mean feature count of the uniform policy over the list."""
  return jnp.mean(feature_counts(space, t_max, gamma, encoding)[1], axis=0)


def enumeration_step(w, key, *, gamma, encoding, opset, t_max, config):
  """The architecture maximising ``w . mu`` (lowest index on ties) and its mu."""
  del key, config
  blocks, mus = feature_counts(opset.name, t_max, gamma, encoding)
  best = jnp.argmax(mus @ w)
  return jax.tree_util.tree_map(lambda x: x[best], blocks), mus[best]
