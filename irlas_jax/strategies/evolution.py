"""Regularized evolution (Real et al., AAAI 2019) over any search space.

Aging evolution, as in the paper's Algorithm 1:

    while fewer than P architectures are alive: evaluate a random one
    repeat:
      sample S alive architectures uniformly (without replacement)
      parent = the fittest of the S; child = mutate(parent)
      evaluate the child, add it, remove the OLDEST (not the worst)

The population is a ring buffer of size P holding archs (any pytree with a
leading axis: Blocks or NAS-Bench-201 cells), their fitness and nothing
else: writing a child into the slot after the last one written removes the
oldest. Fitness is the search reward, ``F_accuracy + lambda * F`` (Eq. 9),
so the mirror stimuli function plugs in exactly as Sec. 3.5 says.

Batches. The driver proposes ``batch_size`` archs per iteration and
evaluates them together; with ``batch_size = 1`` this is exactly the
sequential algorithm above (the NAS-Bench-201 study uses 1). With a batch of
B, the B children come from B independent tournaments over the population
as it stood before the batch, and enter it together, removing the B oldest;
the j-th proposal of a batch is random while ``size + j < P`` (the initial
population). This is the usual asynchronous-workers reading of the
algorithm.

Sampling and mutation come from :mod:`irlas_jax.spaces.arch_space`
(one-edge mutation for NAS-Bench-201; one-layer re-draw, append or drop for
the block space).
"""

from __future__ import annotations

import dataclasses

from flax import struct
import jax
import jax.numpy as jnp
import ml_collections

from irlas_jax.spaces.arch_space import ArchSpace, get_arch_space
from irlas_jax.strategies import base


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.population_size = 100  # P (Real et al. 2019, NASNet space)
  config.sample_size = 25  # S, the tournament size (Real et al. 2019)
  return config


@dataclasses.dataclass(frozen=True)
class EvolutionSettings:
  space: ArchSpace
  batch_size: int
  population_size: int
  sample_size: int


@struct.dataclass
class EvolutionState:
  population: object  # archs with a leading axis population_size
  fitness: jax.Array  # float32[P]
  size: jax.Array  # int32[], alive entries
  next: jax.Array  # int32[], slot of the next child (the oldest once full)
  iteration: jax.Array
  settings: EvolutionSettings = struct.field(pytree_node=False)


def settings_from_config(config) -> EvolutionSettings:
  """``config``: ``space``, ``t_max`` (layer spaces), ``batch_size`` and an
  ``evolution`` sub-config (:func:`default_config`)."""
  e = config.evolution
  population, sample = int(e.population_size), int(e.sample_size)
  if population < 1:
    raise ValueError(f"config.evolution.population_size must be >= 1, got {population}")
  if not 1 <= sample <= population:
    raise ValueError(f"config.evolution.sample_size must be in 1..population_size="
                     f"{population}, got {sample}")
  if int(config.batch_size) > population:
    raise ValueError(f"config.batch_size={config.batch_size} exceeds "
                     f"config.evolution.population_size={population}: a batch of "
                     f"children would replace more than the whole population")
  return EvolutionSettings(get_arch_space(config.space, config.get("t_max")),
                           int(config.batch_size), population, sample)


def init(key, config) -> EvolutionState:
  s = settings_from_config(config)
  # Placeholder archs: nothing is alive until evaluated (size 0).
  return EvolutionState(
      population=s.space.sample(key, s.population_size),
      fitness=jnp.full((s.population_size,), -jnp.inf, jnp.float32),
      size=jnp.zeros((), jnp.int32), next=jnp.zeros((), jnp.int32),
      iteration=jnp.zeros((), jnp.int32), settings=s)


def _tournament(state: EvolutionState, key):
  """Index of the fittest of S alive entries drawn without replacement."""
  s = state.settings
  alive = jnp.arange(s.population_size) < state.size
  # Uniform S-subset of the alive entries: the S smallest random keys.
  scores = jnp.where(alive, jax.random.uniform(key, (s.population_size,)), jnp.inf)
  chosen = jnp.argsort(scores)[:s.sample_size]
  fitness = jnp.where(alive[chosen], state.fitness[chosen], -jnp.inf)
  return chosen[jnp.argmax(fitness)]


def propose(state: EvolutionState, key):
  """``batch_size`` archs: random while the population fills, then children."""
  s = state.settings
  k_random, k_children = jax.random.split(key)
  randoms = s.space.sample(k_random, s.batch_size)

  def child(key):
    k_parent, k_mutate = jax.random.split(key)
    parent = jax.tree_util.tree_map(lambda x: x[_tournament(state, k_parent)],
                                    state.population)
    return s.space.mutate(k_mutate, parent)

  children = jax.vmap(child)(jax.random.split(k_children, s.batch_size))
  is_random = state.size + jnp.arange(s.batch_size) < s.population_size
  archs = jax.tree_util.tree_map(
      lambda r, c: jnp.where(is_random.reshape((-1,) + (1,) * (r.ndim - 1)), r, c),
      randoms, children)
  return archs, {"random": is_random}


def update(state: EvolutionState, archs, rewards, aux) -> EvolutionState:
  """The proposals join the population, replacing the oldest."""
  del aux
  s = state.settings
  slots = (state.next + jnp.arange(s.batch_size)) % s.population_size
  population = jax.tree_util.tree_map(lambda p, a: p.at[slots].set(a),
                                      state.population, archs)
  return state.replace(
      population=population,
      fitness=state.fitness.at[slots].set(jnp.asarray(rewards, jnp.float32)),
      size=jnp.minimum(state.size + s.batch_size, s.population_size),
      next=(state.next + s.batch_size) % s.population_size,
      iteration=state.iteration + 1)


STRATEGY = base.register("evolution", base.Strategy(init, propose, update))
