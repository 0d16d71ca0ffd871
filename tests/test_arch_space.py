"""Sampling and mutation for space-agnostic strategies (random, evolution)."""

import jax
import numpy as np

from irlas_jax.spaces import arch_space
from irlas_jax.spaces.block import sample_uniform, to_layers, validate


def test_block_mutations_are_valid_single_edits():
  parents = sample_uniform(jax.random.key(0), 400, 6)
  keys = jax.random.split(jax.random.key(1), 400)
  children = jax.jit(jax.vmap(arch_space.mutate_block))(keys, parents)
  kinds = {"redraw": 0, "append": 0, "drop": 0}
  for i in range(400):
    parent, child = to_layers(parents[i]), to_layers(children[i])
    validate(children[i])  # raises on an invalid block
    assert child != parent
    if len(child) == len(parent):
      assert sum(a != b for a, b in zip(parent, child)) == 1
      kinds["redraw"] += 1
    elif len(child) == len(parent) + 1:
      assert child[:-1] == parent
      kinds["append"] += 1
    else:
      assert len(child) == len(parent) - 1 and child == parent[:-1]
      kinds["drop"] += 1
  # Each kind happens (about a third each, more re-draws at the length limits).
  assert min(kinds.values()) > 60, kinds


def test_arch_spaces_are_cached_per_space_and_t_max():
  assert arch_space.get_arch_space("block", 6) is arch_space.get_arch_space("block", 6)
  cells = arch_space.get_arch_space("nb201").sample(jax.random.key(0), 5)
  assert cells.shape == (5, 6) and np.asarray(cells).max() < 5
