"""Random search: every proposal is a batch of uniformly drawn architectures.

The baseline of every search study. In the block space it is the uniform
random policy pi_0 (length uniform in 1..t_max, each layer uniform among the
layers valid at its index, ``sample_uniform``); in the NAS-Bench-201 space
each edge's op is uniform, i.e. cells uniform with replacement (repeats
count against the budget). It ignores rewards; its state only counts
iterations.
"""

from __future__ import annotations

import dataclasses

from flax import struct
import jax
import jax.numpy as jnp

from irlas_jax.spaces.arch_space import ArchSpace, get_arch_space
from irlas_jax.strategies import base


@dataclasses.dataclass(frozen=True)
class RandomSettings:
  space: ArchSpace
  batch_size: int


@struct.dataclass
class RandomState:
  iteration: jax.Array
  settings: RandomSettings = struct.field(pytree_node=False)


def init(key, config) -> RandomState:
  """``config`` fields: ``space``, ``t_max`` (layer spaces), ``batch_size``."""
  del key
  settings = RandomSettings(get_arch_space(config.space, config.get("t_max")),
                            int(config.batch_size))
  return RandomState(jnp.zeros((), jnp.int32), settings)


def propose(state: RandomState, key):
  s = state.settings
  return s.space.sample(key, s.batch_size), None


def update(state: RandomState, blocks, rewards, aux) -> RandomState:
  del blocks, rewards, aux
  return state.replace(iteration=state.iteration + 1)


STRATEGY = base.register("random", base.Strategy(init, propose, update))
