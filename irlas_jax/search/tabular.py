"""A whole search over a tabular benchmark as one XLA program.

With a tabular evaluator (:mod:`irlas_jax.evaluate.tabular`) nothing in a
search leaves the device: propose, look up, reward, update is a pure
function of the strategy state, so the whole budget is one ``lax.scan``, and
``jax.vmap`` over seeds runs hundreds of independent searches in one call
(the purejaxrl pattern: ``make_search(...) -> search(key)``).

Per evaluation n (repeats count against the budget, as in the NAS-Bench-201
literature) the program records the proposed cell, its validation and test
accuracy, its reward, and the *best so far*: the cell with the highest
validation accuracy among the first n evaluations (the first one on ties)
and its test accuracy, which is what a user of the search would report.

The reward is Eq. 9 with F normalised as a z-score under the random policy
(uniform cells), computed exactly over all 15,625 cells:
``R = acc_val + lam * (F - mean) / std``, so ``lam`` is the accuracy points
(percent) the search trades for one standard deviation of F.
"""

from __future__ import annotations

from collections.abc import Callable
import math

from flax import struct
import jax
import jax.numpy as jnp

from irlas_jax.spaces import nb201
from irlas_jax.strategies import base


@struct.dataclass
class SearchTables:
  """Per-cell values the search looks up (all ``float32[15625]``, by cell code)."""
  val: jax.Array  # accuracy the search sees (percent)
  test: jax.Array  # accuracy reported for the chosen cell (percent)
  f_z: jax.Array  # z-scored mirror stimuli F (0 where lam is 0)


@struct.dataclass
class SearchHistory:
  """One search (or a batch of searches with leading seed axes)."""
  codes: jax.Array  # int32[budget], proposed cells
  val: jax.Array  # float32[budget]
  test: jax.Array  # float32[budget]
  reward: jax.Array  # float32[budget]
  best_val: jax.Array  # float32[budget], best validation accuracy so far
  best_test: jax.Array  # float32[budget], test accuracy of that cell
  best_code: jax.Array  # int32[budget]
  distinct: jax.Array  # int32[], distinct cells among the budget


def f_table(msf, t_max: int = nb201.T_MAX) -> tuple[jax.Array, float, float]:
  """F of every cell and its mean and std under uniform cells (exact)."""
  f = msf(nb201.all_blocks(t_max))
  return f, float(jnp.mean(f)), float(jnp.std(f))


def make_tables(val, test, f=None) -> SearchTables:
  """Tables from accuracy columns and (optionally) raw F of every cell."""
  if f is None:
    f_z = jnp.zeros_like(val)
  else:
    f_z = (f - jnp.mean(f)) / jnp.maximum(jnp.std(f), 1e-12)
  return SearchTables(jnp.asarray(val, jnp.float32), jnp.asarray(test, jnp.float32),
                      jnp.asarray(f_z, jnp.float32))


def _best_so_far(codes, val, test):
  def step(carry, x):
    best_val, best_test, best_code = carry
    code, v, t = x
    better = v > best_val
    carry = (jnp.where(better, v, best_val), jnp.where(better, t, best_test),
             jnp.where(better, code, best_code))
    return carry, carry
  init = (jnp.float32(-jnp.inf), jnp.float32(0.0), jnp.int32(-1))
  _, (best_val, best_test, best_code) = jax.lax.scan(step, init, (codes, val, test))
  return best_val, best_test, best_code


def count_distinct(codes) -> jax.Array:
  """Number of distinct values in ``int32[n]`` (under jit)."""
  ordered = jnp.sort(codes)
  return 1 + jnp.sum(ordered[1:] != ordered[:-1]).astype(jnp.int32)


def make_search(strategy: base.Strategy, config, budget: int
                ) -> Callable[[jax.Array, SearchTables, jax.Array], SearchHistory]:
  """``search(key, tables, lam) -> SearchHistory`` for ``budget`` evaluations.

  ``config`` is the strategy's config (``space``, ``batch_size``, its
  sub-config); ``ceil(budget / batch_size)`` iterations run and the first
  ``budget`` evaluations are kept. ``search`` is pure: jit it, vmap it over
  keys (and over ``lam``).
  """
  if config.get("space") != "nb201":
    raise ValueError(f"config.space={config.get('space')!r}: a tabular search runs over "
                     f"the NAS-Bench-201 cells, space 'nb201'")
  budget = int(budget)
  if budget < 1:
    raise ValueError(f"budget must be >= 1, got {budget}")
  batch = int(config.batch_size)
  iterations = math.ceil(budget / batch)

  def search(key, tables: SearchTables, lam) -> SearchHistory:
    k_init, k_run = jax.random.split(key)
    state = strategy.init(k_init, config)

    def iteration(state, i):
      archs, aux = strategy.propose(state, jax.random.fold_in(k_run, i))
      codes = nb201.encode(archs)
      val, test = tables.val[codes], tables.test[codes]
      reward = val + lam * tables.f_z[codes]
      state = strategy.update(state, archs, reward, aux)
      return state, (codes, val, test, reward)

    _, (codes, val, test, reward) = jax.lax.scan(iteration, state, jnp.arange(iterations))
    codes, val, test, reward = (x.reshape(-1)[:budget] for x in (codes, val, test, reward))
    best_val, best_test, best_code = _best_so_far(codes, val, test)
    return SearchHistory(codes, val, test, reward, best_val, best_test, best_code,
                         count_distinct(codes))

  return search


def make_batched_search(strategy: base.Strategy, config, budget: int):
  """``search(keys[n], tables, lam) -> SearchHistory`` with a leading seed
  axis: :func:`make_search` vmapped over keys and jitted (compile once, call
  with any ``lam``)."""
  return jax.jit(jax.vmap(make_search(strategy, config, budget), in_axes=(0, None, None)))
