"""Tabular Q-learning for cell spaces: one action per edge (NAS-Bench-201).

The paper's agent (Sec. 3.4, :mod:`irlas_jax.strategies.qlearning`) places a
block layer by layer. In a cell space whose architecture is a fixed-length
vector of choices (NAS-Bench-201: 6 edges x 5 ops) the same agent places one
op per edge, edge by edge:

* a state is ``(edge e, the op chosen at edge e - 1)`` (the start state is
  ``(0, 0)``), as the block agent's state is the layer just placed;
  ``q[e, previous op, action]``, ``float32[E, C, C]``;
* an episode is E steps; every step of an architecture with reward R gets
  the shaped reward ``R / E`` (Sec. 3.4);
* Eq. 11 with eta and gamma as in the paper; the last edge's target is its
  reward alone (the episode ends); a replayed trajectory is updated from its
  last edge to its first, trajectories in order (sequential tabular
  Q-learning, one ``fori_loop``);
* epsilon-greedy per edge, ties broken at random; epsilon = 1 samples cells
  uniformly, exactly as random search does;
* replay: a ring buffer of every (cell, reward) seen; each iteration replays
  ``updates_per_iteration`` minibatches of ``replay_batch`` entries drawn
  uniformly with replacement.

The schedule scaled to a budget: ``batch_size`` (8) cells per iteration and
``ceil(budget / batch_size)`` iterations, with epsilon following the BlockQNN
schedule's *fractions* (95, 7, 7, 7, 10, 10, 10, 10, 10, 12 parts of 178 at
epsilon 1.0, 0.9, ..., 0.1): over 500 evaluations the first 53% are random.

The replay key is drawn in ``propose`` and passed to ``update`` in ``aux``,
so independent seeds (``vmap``) replay independent minibatches.
"""

from __future__ import annotations

import dataclasses
import math

from flax import struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from irlas_jax.spaces.arch_space import get_arch_space
from irlas_jax.strategies import base
from irlas_jax.strategies.qlearning import BLOCKQNN_SCHEDULE


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.learning_rate = 0.01  # eta of Eq. 11 (Sec. 4.1)
  config.discount = 0.9  # gamma of Eq. 11
  config.q_init = 0.5
  config.replay_batch = 8
  config.updates_per_iteration = 16
  config.schedule = BLOCKQNN_SCHEDULE  # (parts, epsilon): used as fractions
  return config


@dataclasses.dataclass(frozen=True)
class EdgeQSettings:
  num_positions: int
  num_choices: int
  batch_size: int
  num_iterations: int
  learning_rate: float
  discount: float
  q_init: float
  replay_batch: int
  updates_per_iteration: int
  schedule: tuple[tuple[int, float], ...]


@struct.dataclass
class EdgeQState:
  q: jax.Array  # float32[E, C, C]
  cells: jax.Array  # int32[capacity, E], the replay memory
  rewards: jax.Array  # float32[capacity]
  size: jax.Array
  next: jax.Array
  iteration: jax.Array
  settings: EdgeQSettings = struct.field(pytree_node=False)


def settings_from_config(config) -> EdgeQSettings:
  """``config``: ``space`` (a cell space), ``batch_size``, ``budget`` and an
  ``edge_qlearning`` sub-config (:func:`default_config`)."""
  space = get_arch_space(config.space, config.get("t_max"))
  if space.num_positions is None:
    raise ValueError(f"edge_qlearning needs a cell space (fixed-length choices); "
                     f"space {config.space!r} is a layer space: use 'qlearning'")
  q = config.edge_qlearning
  schedule = tuple((int(n), float(e)) for n, e in q.schedule)
  if not schedule or any(n < 0 for n, _ in schedule) or any(
      not 0 <= e <= 1 for _, e in schedule):
    raise ValueError(f"config.edge_qlearning.schedule must be (parts, epsilon) pairs "
                     f"with epsilon in [0, 1], got {q.schedule}")
  batch = int(config.batch_size)
  if batch < 1 or int(config.budget) < 1:
    raise ValueError(f"config.batch_size and config.budget must be >= 1, got "
                     f"{batch} and {config.budget}")
  return EdgeQSettings(space.num_positions, space.num_choices, batch,
                       math.ceil(int(config.budget) / batch), float(q.learning_rate),
                       float(q.discount), float(q.q_init), int(q.replay_batch),
                       int(q.updates_per_iteration), schedule)


def init(key, config) -> EdgeQState:
  del key
  s = settings_from_config(config)
  capacity = s.num_iterations * s.batch_size
  return EdgeQState(
      q=jnp.full((s.num_positions, s.num_choices, s.num_choices), s.q_init, jnp.float32),
      cells=jnp.zeros((capacity, s.num_positions), jnp.int32),
      rewards=jnp.zeros((capacity,), jnp.float32),
      size=jnp.zeros((), jnp.int32), next=jnp.zeros((), jnp.int32),
      iteration=jnp.zeros((), jnp.int32), settings=s)


def epsilon(settings: EdgeQSettings, iteration) -> jax.Array:
  """Epsilon at ``iteration``: the schedule's fractions of ``num_iterations``."""
  parts = np.asarray([n for n, _ in settings.schedule], np.float64)
  ends = np.cumsum(parts) / parts.sum() * settings.num_iterations
  values = jnp.asarray([e for _, e in settings.schedule], jnp.float32)
  index = jnp.searchsorted(jnp.asarray(ends, jnp.float32),
                           iteration.astype(jnp.float32), side="right")
  return values[jnp.minimum(index, len(values) - 1)]


def _sample(q, eps, key, s: EdgeQSettings):
  def step(previous, inputs):
    e, key = inputs
    k_explore, k_random, k_tie = jax.random.split(key, 3)
    row = q[e, previous]
    ties = row == jnp.max(row)
    greedy = jnp.argmax(jnp.where(ties, jax.random.uniform(k_tie, row.shape), -1.0))
    action = jnp.where(jax.random.uniform(k_explore) < eps,
                       jax.random.randint(k_random, (), 0, s.num_choices), greedy)
    return action.astype(jnp.int32), action.astype(jnp.int32)

  _, cell = jax.lax.scan(step, jnp.int32(0),
                         (jnp.arange(s.num_positions), jax.random.split(key, s.num_positions)))
  return cell


def propose(state: EdgeQState, key):
  """``batch_size`` epsilon-greedy cells; aux holds epsilon and the replay key."""
  s = state.settings
  k_sample, k_replay = jax.random.split(key)
  eps = epsilon(s, state.iteration)
  cells = jax.vmap(lambda k: _sample(state.q, eps, k, s))(
      jax.random.split(k_sample, s.batch_size))
  return cells, {"epsilon": eps, "replay_key": k_replay}


def q_update(q, cells, rewards, s: EdgeQSettings):
  """Eq. 11 over trajectories ``cells[n, E]`` with rewards ``[n]``, in order,
  each from its last edge to its first."""
  E = s.num_positions
  eta, gamma = s.learning_rate, s.discount

  def transition(i, q):
    j, k = i // E, i % E
    e = E - 1 - k
    cell = cells[j]
    r = rewards[j] / E
    previous = jnp.where(e == 0, 0, cell[jnp.maximum(e - 1, 0)])
    best_next = jnp.max(q[jnp.minimum(e + 1, E - 1), cell[e]])
    target = r + jnp.where(e == E - 1, 0.0, gamma * best_next)
    return q.at[e, previous, cell[e]].set(
        (1.0 - eta) * q[e, previous, cell[e]] + eta * target)

  return jax.lax.fori_loop(0, cells.shape[0] * E, transition, q)


def update(state: EdgeQState, cells, rewards, aux) -> EdgeQState:
  """Stores the proposals with their rewards, then replays minibatches."""
  s = state.settings
  capacity = state.cells.shape[0]
  slots = (state.next + jnp.arange(cells.shape[0])) % capacity
  memory_cells = state.cells.at[slots].set(cells)
  memory_rewards = state.rewards.at[slots].set(jnp.asarray(rewards, jnp.float32))
  size = jnp.minimum(state.size + cells.shape[0], capacity)

  def replay(q, key):
    index = jax.random.randint(key, (s.replay_batch,), 0, size)
    return q_update(q, memory_cells[index], memory_rewards[index], s), None

  q, _ = jax.lax.scan(replay, state.q,
                      jax.random.split(aux["replay_key"], s.updates_per_iteration))
  return state.replace(q=q, cells=memory_cells, rewards=memory_rewards, size=size,
                       next=(state.next + cells.shape[0]) % capacity,
                       iteration=state.iteration + 1)


def greedy_cell(state: EdgeQState) -> jax.Array:
  """The greedy policy's cell (lowest op among ties)."""
  def step(previous, e):
    action = jnp.argmax(state.q[e, previous]).astype(jnp.int32)
    return action, action
  _, cell = jax.lax.scan(step, jnp.int32(0), jnp.arange(state.settings.num_positions))
  return cell


STRATEGY = base.register("edge_qlearning", base.Strategy(init, propose, update))
