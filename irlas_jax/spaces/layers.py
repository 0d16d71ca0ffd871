"""The table of layers: every (op, pred1, pred2) a block can hold, by index.

A *layer code* is an integer naming one valid layer ``(op, pred1, pred2)``.
Codes are sorted by their latest predecessor (``pred1`` for commutative
two-input ops, stored with pred1 > pred2, and for one-input ops), so the layers valid at layer index ``t`` (those whose preds
are all earlier nodes) are exactly the codes ``0 .. count[t] - 1``: a prefix.
That one property lets every consumer use dense arrays with a validity mask
instead of ragged ones:

* ``sample_uniform`` draws a code uniformly in ``[0, count[t])``;
* the IRL dynamic programme and the tabular Q-learning agent index their
  tables as ``[t, code]`` and ``[t, code, next_code]`` (with ``t_max = 24``
  the block space has 744 codes and about 3M valid (state, action) pairs);
* ``encode`` turns a block into codes with one gather, under jit.

For the block space with ``t_max = 24`` the counts are ``8 t + t (t - 1)``:
eight one-input ops times t choices of pred, plus two commutative two-input
ops times t (t - 1) / 2 unordered pairs.
"""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp
import numpy as np

from irlas_jax.spaces.opset import OpSet


@dataclasses.dataclass(frozen=True, eq=False)
class LayerCodes:
  """All layers of an op set up to ``t_max`` (numpy arrays, host constants).

  Attributes:
    opset: the op set.
    t_max: largest layer index.
    op: int32[L], op id of each code.
    pred: int32[L, 2], preds of each code (pred2 = 0 for one-input ops).
    count: int32[t_max + 1]; ``count[t]`` codes are valid at layer ``t``
      (``count[0] = 0``).
    index: int32[num_ops + 2, num_nodes, num_nodes], code of (op, p1, p2), or
      -1 where no such layer exists; reserved ids map to -1.
  """
  opset: OpSet
  t_max: int
  op: np.ndarray
  pred: np.ndarray
  count: np.ndarray
  index: np.ndarray

  @property
  def size(self) -> int:
    return int(self.op.shape[0])

  def encode(self, op, pred):
    """Codes of layers ``(op[..., t], pred[..., t, :])``; -1 where invalid.

    Pure jnp gather, usable under jit and vmap.
    """
    table = jnp.asarray(self.index)
    num_nodes = table.shape[1]
    p = jnp.clip(pred, 0, num_nodes - 1)
    return table[jnp.clip(op, 0, table.shape[0] - 1), p[..., 0], p[..., 1]]


@functools.lru_cache(maxsize=None)
def layer_codes(opset: OpSet, t_max: int) -> LayerCodes:
  """The code table of ``opset`` for blocks of at most ``t_max`` layers."""
  if t_max < 1:
    raise ValueError(f"t_max must be >= 1, got {t_max}")
  num_nodes = opset.num_nodes(t_max)
  rows = []
  # The last layer (t = t_max) may read any node before it.
  for latest in range(opset.node(t_max)):
    for op_id, spec in enumerate(opset.ops):
      if spec.arity == 1:
        rows.append((op_id, latest, 0))
        continue
      for other in range(latest):
        rows.append((op_id, latest, other))
        if not spec.commutative:  # ordered ops also take the swapped pair
          rows.append((op_id, other, latest))
  codes = np.array(rows, np.int32).reshape(-1, 3)
  op = codes[:, 0]
  pred = codes[:, 1:]
  latest = pred.max(axis=1)
  count = np.zeros(t_max + 1, np.int32)
  for t in range(1, t_max + 1):
    count[t] = int(np.sum(latest < opset.node(t)))
  index = -np.ones((opset.num_ops + 2, num_nodes, num_nodes), np.int32)
  index[op, pred[:, 0], pred[:, 1]] = np.arange(len(op), dtype=np.int32)
  for array in (op, pred, count, index):
    array.setflags(write=False)
  return LayerCodes(opset, t_max, op, pred, count, index)
