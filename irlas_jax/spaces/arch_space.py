"""What a space-agnostic strategy needs of a search space: sample and mutate.

Random search and regularized evolution do not care what an architecture
is; they need to draw one uniformly and to change one a little. An
:class:`ArchSpace` bundles those two pure, jittable functions for one space,
so the same strategy code runs over the block space of Sec. 3.4 (archs are
:class:`~irlas_jax.spaces.block.Block` pytrees) and over the NAS-Bench-201
cell space (archs are ``int32[6]`` op ids). :func:`get_arch_space` returns a
cached instance per ``(space, t_max)``, so strategies holding it as static
state compile once.

Block-space mutation (:func:`mutate_block`), the analogue of Real et al.'s
op and hidden-state mutations for a layer sequence; one of, uniformly:

* re-draw one layer (uniform among the real layers) as another layer valid
  at its index (op and preds together, uniform among the other valid
  layers): later layers still read earlier nodes only, so the block stays
  valid;
* append a layer (uniform among the layers valid at ``length + 1``);
* drop the last layer.

Where append or drop is impossible (``length`` at ``t_max`` or 1), the
mutation re-draws a layer instead. Every mutation changes the block.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from irlas_jax.spaces import nb201
from irlas_jax.spaces.block import Block, sample_uniform
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import OpSet, get_opset


@dataclasses.dataclass(frozen=True, eq=False)
class ArchSpace:
  """Sampling and mutation of one search space.

  Attributes:
    name: the space (op set) name.
    sample: ``sample(key, n) -> archs`` with a leading axis n, uniform.
    mutate: ``mutate(key, arch) -> arch`` for one architecture.
    num_positions, num_choices: for spaces whose archs are fixed-length
      categorical vectors (NAS-Bench-201: 6 edges, 5 ops), else None.
  """
  name: str
  sample: Callable[[jax.Array, int], Any]
  mutate: Callable[[jax.Array, Any], Any]
  num_positions: int | None = None
  num_choices: int | None = None


def mutate_block(key: jax.Array, block: Block) -> Block:
  """One mutation of a single block (see the module docstring)."""
  opset, t_max = block.opset, block.t_max
  codes = layer_codes(opset, t_max)
  count = jnp.asarray(codes.count)
  code_op, code_pred = jnp.asarray(codes.op), jnp.asarray(codes.pred)
  k_kind, k_t, k_code = jax.random.split(key, 3)
  length = block.length
  kind = jax.random.randint(k_kind, (), 0, 3)  # 0 re-draw, 1 append, 2 drop
  kind = jnp.where((kind == 1) & (length >= t_max), 0, kind)
  kind = jnp.where((kind == 2) & (length <= 1), 0, kind)

  # Re-draw layer t as a different code valid at t.
  t = jax.random.randint(k_t, (), 1, length + 1)
  current = codes.encode(block.op[t - 1], block.pred[t - 1])
  draw = jax.random.randint(k_code, (), 0, count[t] - 1)
  redrawn = draw + (draw >= current)
  # Append: a code valid at length + 1.
  appended = jax.random.randint(k_code, (), 0, count[jnp.minimum(length + 1, t_max)])

  row = jnp.where(kind == 0, t - 1, jnp.where(kind == 1, length, length - 1))
  new_code = jnp.where(kind == 0, redrawn, appended)
  new_op = jnp.where(kind == 2, opset.pad_id, code_op[new_code])
  new_pred = jnp.where(kind == 2, 0, code_pred[new_code])
  new_length = length + jnp.where(kind == 1, 1, jnp.where(kind == 2, -1, 0))
  return Block(block.op.at[row].set(new_op.astype(jnp.int32)),
               block.pred.at[row].set(new_pred.astype(jnp.int32)),
               new_length.astype(jnp.int32), opset)


def _block_space(opset: OpSet, t_max: int) -> ArchSpace:
  return ArchSpace(
      name=opset.name,
      sample=lambda key, n: sample_uniform(key, n, t_max, opset),
      mutate=mutate_block)


_CELL_SPACES = {
    "nb201": ArchSpace("nb201", sample=nb201.sample, mutate=nb201.mutate,
                       num_positions=nb201.NUM_EDGES, num_choices=nb201.NUM_OPS),
}


@functools.lru_cache(maxsize=None)
def get_arch_space(space: str, t_max: int | None = None) -> ArchSpace:
  """The :class:`ArchSpace` of ``space`` (``t_max`` is used by layer spaces)."""
  if space in _CELL_SPACES:
    return _CELL_SPACES[space]
  if t_max is None:
    raise ValueError(f"space {space!r} needs a t_max")
  return _block_space(get_opset(space), int(t_max))
