"""Random search: every proposal is a batch of ``sample_uniform`` blocks.

The baseline of every search study: the uniform random policy pi_0 (length
uniform in 1..t_max, each layer uniform among the layers valid at its index).
It ignores rewards; its state only counts iterations.
"""

from __future__ import annotations

import dataclasses

from flax import struct
import jax
import jax.numpy as jnp

from irlas_jax.spaces.block import sample_uniform
from irlas_jax.spaces.opset import OpSet, get_opset
from irlas_jax.strategies import base


@dataclasses.dataclass(frozen=True)
class RandomSettings:
  opset: OpSet
  t_max: int
  batch_size: int


@struct.dataclass
class RandomState:
  iteration: jax.Array
  settings: RandomSettings = struct.field(pytree_node=False)


def init(key, config) -> RandomState:
  """``config`` fields: ``space``, ``t_max``, ``batch_size``."""
  del key
  settings = RandomSettings(get_opset(config.space), int(config.t_max),
                            int(config.batch_size))
  return RandomState(jnp.zeros((), jnp.int32), settings)


def propose(state: RandomState, key):
  s = state.settings
  return sample_uniform(key, s.batch_size, s.t_max, s.opset), None


def update(state: RandomState, blocks, rewards, aux) -> RandomState:
  del blocks, rewards, aux
  return state.replace(iteration=state.iteration + 1)


STRATEGY = base.register("random", base.Strategy(init, propose, update))
