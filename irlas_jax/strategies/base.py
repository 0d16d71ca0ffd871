"""The search-strategy interface and registry.

A strategy is three pure functions over a pytree state, in the spirit of
optax's ``GradientTransformation``:

    init(key, config) -> state
    propose(state, key) -> (blocks, aux)        # a batch of blocks to evaluate
    update(state, blocks, rewards, aux) -> state

``propose`` and ``update`` are jittable; everything a strategy needs besides
arrays (batch size, schedules, the op set) lives in static fields of its
state, fixed at ``init``, so the driver calls ``jax.jit(strategy.propose)``
and never knows which strategy it runs. A strategy is registered under a
name (``config.strategy``) with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from irlas_jax.spaces.block import Block


class Strategy(NamedTuple):
  """A search strategy: ``(init, propose, update)``."""
  init: Callable[[jax.Array, Any], Any]
  propose: Callable[[Any, jax.Array], tuple[Block, Any]]
  update: Callable[[Any, Block, jax.Array, Any], Any]


_STRATEGIES: dict[str, Strategy] = {}


def register(name: str, strategy: Strategy) -> Strategy:
  """Makes ``strategy`` selectable as ``config.strategy = name``."""
  _STRATEGIES[name] = strategy
  return strategy


def names() -> tuple[str, ...]:
  return tuple(sorted(_STRATEGIES))


def get(name: str) -> Strategy:
  if name not in _STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(names())}")
  return _STRATEGIES[name]
