"""The block: the paper's layer sequence as a fixed-size pytree (Sec. 3.2, 3.4).

A block is a sequence of layers ``t = 1 .. length``; layer ``t`` applies
``op[t - 1]`` to the nodes ``pred[t - 1, 0]`` and ``pred[t - 1, 1]``. Node 0
is the block input (see :mod:`irlas_jax.spaces.opset` for several input
slots). Layers with no successor are concatenated into the block output.

Arrays have a fixed size ``t_max`` so that a batch of blocks is one pytree
with a leading axis and every consumer (features, Q tables, networks) can be
jitted and vmapped without recompiling per block. Rows past ``length`` hold
``opset.pad_id`` with preds 0.

The op set is static metadata of the pytree (``Block.opset``): it travels
with the arrays through jit, vmap and stacking, so ``to_layers``,
``validate`` and the features need no extra argument, and a block of one
space is never mistaken for one of another.

Validation is host-side (numpy) and raises ``ValueError`` naming the layer;
it cannot run inside jit, so blocks made inside jit (``sample_uniform``) are
valid by construction and tests check that they pass ``validate``.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet

DEFAULT_T_MAX = 24  # Sec. 4.1: "the maximum layer index for a block is set to 24"


@struct.dataclass
class Block:
  """A block (or a batch of blocks, with leading axes).

  Attributes:
    op: int32[..., t_max], op id of layer ``t`` at position ``t - 1``.
    pred: int32[..., t_max, 2], predecessor node indices of each layer.
    length: int32[...], number of real layers.
    opset: the op set (static).
  """
  op: jax.Array
  pred: jax.Array
  length: jax.Array
  opset: OpSet = struct.field(pytree_node=False, default=BLOCK_OPS)

  @property
  def t_max(self) -> int:
    return self.op.shape[-1]

  @property
  def batch_shape(self) -> tuple[int, ...]:
    return tuple(self.op.shape[:-1])

  def __repr__(self) -> str:
    try:
      if not self.batch_shape:
        layers = " ".join(f"{n}({p1})" if self.opset.ops[self.opset.op_id(n)].arity == 1
                          else f"{n}({p1},{p2})" for n, p1, p2 in to_layers(self))
        return f"Block({self.opset.name}, t_max={self.t_max}: {layers})"
      return (f"Block({self.opset.name}, t_max={self.t_max}, "
              f"batch_shape={self.batch_shape})")
    except (jax.errors.ConcretizationTypeError, TypeError, ValueError):
      return f"Block({self.opset.name}, t_max={self.t_max}, op={self.op!r})"

  def __getitem__(self, index) -> "Block":
    """Index the batch axes: ``blocks[3]``, ``blocks[:8]``."""
    if not self.batch_shape:
      raise IndexError("a single block has no batch axis to index")
    return jax.tree_util.tree_map(lambda x: x[index], self)

  def __len__(self) -> int:
    if not self.batch_shape:
      raise TypeError("a single block has no len(); use block.length")
    return self.batch_shape[0]


Layer = tuple  # (op_name, pred1, pred2) or (op_name, pred1)


def from_layers(layers: Sequence[Layer], t_max: int = DEFAULT_T_MAX,
                opset: OpSet = BLOCK_OPS) -> Block:
  """Builds and validates a block from ``[(op_name, pred1, pred2), ...]``.

  ``layers[i]`` is layer ``t = i + 1``. A one-input layer has ``pred2 == 0``
  (or is given as ``(op_name, pred1)``); a two-input op always names both
  inputs, and ``pred2 == 0`` then means the block input. Commutative two-input ops (add,
  concat) are stored with pred1 > pred2 whatever order they were given in.

  Raises:
    ValueError: naming the layer, for an unknown op, a pred that is not an
      earlier node, a one-input op with a nonzero pred2, a two-input op given
      one input, or a length of 0 or above ``t_max``.
  """
  if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
    raise ValueError(f"layers must be a list of (op_name, pred1, pred2) tuples, "
                     f"got {type(layers).__name__}")
  if not 1 <= len(layers) <= t_max:
    raise ValueError(f"block length {len(layers)} is out of range: a block has "
                     f"1 to t_max={t_max} layers")
  op = np.full(t_max, opset.pad_id, np.int32)
  pred = np.zeros((t_max, 2), np.int32)
  for i, layer in enumerate(layers):
    t = i + 1
    if isinstance(layer, (str, bytes)) or not isinstance(layer, Sequence) \
        or len(layer) not in (2, 3):
      raise ValueError(f"layer {t}: expected (op_name, pred1, pred2), got {layer!r}")
    name, *preds = layer
    if not isinstance(name, str):
      raise ValueError(f"layer {t}: op name must be a string, got {name!r}")
    try:
      op[i] = opset.op_id(name)
    except ValueError as e:
      raise ValueError(f"layer {t}: {e}") from None
    spec = opset.ops[op[i]]
    if spec.arity == 2 and len(preds) == 1:
      raise ValueError(f"layer {t} ({name}): a two-input op was given one input "
                       f"{layer!r}; write ({name!r}, pred1, pred2)")
    preds = [int(p) for p in preds] + [0] * (2 - len(preds))
    if spec.arity == 2 and spec.commutative:
      preds = sorted(preds, reverse=True)
    pred[i] = preds
  block = Block(jnp.asarray(op), jnp.asarray(pred),
                jnp.asarray(len(layers), jnp.int32), opset)
  validate(block)
  return block


def to_layers(block: Block) -> list[tuple[str, int, int]]:
  """The inverse of :func:`from_layers` (preds in their stored order)."""
  if block.batch_shape:
    raise ValueError(f"to_layers takes one block, got a batch of shape "
                     f"{block.batch_shape}; index it first (blocks[i])")
  op = np.asarray(block.op)
  pred = np.asarray(block.pred)
  return [(block.opset.op_name(int(op[i])), int(pred[i, 0]), int(pred[i, 1]))
          for i in range(int(block.length))]


def stack_blocks(blocks: Sequence[Block]) -> Block:
  """Stacks blocks of one op set and t_max into a batch (leading axis)."""
  if not blocks:
    raise ValueError("stack_blocks needs at least one block")
  first = blocks[0]
  for i, b in enumerate(blocks):
    if b.opset != first.opset or b.t_max != first.t_max:
      raise ValueError(
          f"block {i} has op set {b.opset.name!r} and t_max {b.t_max}, block 0 "
          f"has {first.opset.name!r} and {first.t_max}: they cannot be stacked")
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *blocks)


def unstack_blocks(blocks: Block) -> list[Block]:
  """The inverse of :func:`stack_blocks` for a batch with one leading axis."""
  if len(blocks.batch_shape) != 1:
    raise ValueError(f"expected one batch axis, got shape {blocks.batch_shape}")
  return [blocks[i] for i in range(blocks.batch_shape[0])]


def validate(block: Block) -> None:
  """Raises ``ValueError`` naming the layer if ``block`` is malformed.

  Checks, for each layer ``t`` of each block: the length is in
  ``1 .. t_max``; the op is a real op of the block's op set; both preds are
  earlier nodes (``0 <= pred < node(t)``, which also rules out cycles); a
  one-input op has pred2 = 0; a two-input op has two distinct inputs, and a
  commutative one stores them with pred1 > pred2; rows past the length are
  padding (pad op, preds 0). Pure host-side check on concrete arrays.
  """
  opset = block.opset
  op = np.asarray(block.op)
  pred = np.asarray(block.pred)
  length = np.asarray(block.length)
  t_max = op.shape[-1]
  if pred.shape != op.shape + (2,) or length.shape != op.shape[:-1]:
    raise ValueError(f"block arrays disagree in shape: op {op.shape}, pred "
                     f"{pred.shape}, length {length.shape}")
  if op.ndim > 1:
    for index in np.ndindex(*op.shape[:-1]):
      try:
        validate(Block(op[index], pred[index], length[index], opset))
      except ValueError as e:
        raise ValueError(f"block {index if len(index) > 1 else index[0]}: {e}") from None
    return
  n = int(length)
  if not 1 <= n <= t_max:
    raise ValueError(f"block length {n} is out of range: a block has 1 to "
                     f"t_max={t_max} layers")
  for i in range(t_max):
    t = i + 1
    o, p1, p2 = int(op[i]), int(pred[i, 0]), int(pred[i, 1])
    if t > n:
      if o != opset.pad_id or p1 or p2:
        raise ValueError(f"layer {t}: past the block length {n} but not padding "
                         f"(op {o}, preds {p1}, {p2}); padding is op "
                         f"{opset.pad_id} ({opset.names[opset.pad_id]!r}) with preds 0")
      continue
    if not 0 <= o < opset.num_ops:
      raise ValueError(f"layer {t}: unknown op id {o} (op set {opset.name!r} has "
                       f"ops 0..{opset.num_ops - 1}: {', '.join(opset.names[:opset.num_ops])})")
    spec = opset.ops[o]
    node = opset.node(t)
    for slot, p in ((1, p1), (2, p2)):
      if not 0 <= p < node:
        raise ValueError(f"layer {t} ({spec.name}): pred{slot}={p} is not an earlier "
                         f"node (must be in 0..{node - 1})")
    if spec.arity == 1 and p2 != 0:
      raise ValueError(f"layer {t} ({spec.name}): a one-input op must have pred2=0, "
                       f"got pred2={p2}")
    if spec.arity == 2:
      if p1 == p2:
        raise ValueError(f"layer {t} ({spec.name}): a two-input op was given one "
                         f"input (pred1 = pred2 = {p1}); it needs two distinct inputs")
      if spec.commutative and p1 < p2:
        raise ValueError(f"layer {t} ({spec.name}): preds ({p1}, {p2}) are not in "
                         f"canonical order (pred1 > pred2); build blocks with from_layers")


def is_valid(block: Block) -> jax.Array:
  """Jittable validity flag of a single block (no message; see ``validate``)."""
  opset, t_max = block.opset, block.t_max
  codes = layer_codes(opset, t_max)
  t = jnp.arange(1, t_max + 1)
  real = t <= block.length
  code = codes.encode(block.op, block.pred)
  in_range = (block.op >= 0) & (block.op < opset.num_ops) \
      & jnp.all((block.pred >= 0) & (block.pred < opset.num_nodes(t_max)), -1)
  count = jnp.asarray(codes.count)[t]
  layer_ok = in_range & (code >= 0) & (code < count)
  pad_ok = (block.op == opset.pad_id) & jnp.all(block.pred == 0, -1)
  return (block.length >= 1) & (block.length <= t_max) & jnp.all(
      jnp.where(real, layer_ok, pad_ok))


@functools.partial(jax.jit, static_argnames=("batch", "t_max", "opset"))
def sample_uniform(key: jax.Array, batch: int, t_max: int = DEFAULT_T_MAX,
                   opset: OpSet = BLOCK_OPS) -> Block:
  """Draws ``batch`` random valid blocks: the random policy pi_0.

  The length is uniform in ``1 .. t_max``; then each layer ``t`` is uniform
  among the layers valid at index ``t`` (every op with every choice of
  earlier nodes, ``layer_codes(opset, t_max).count[t]`` of them). This is
  pi_0 of Alg. 1 and the reference distribution of every random-block check.
  """
  codes = layer_codes(opset, t_max)
  count = jnp.asarray(codes.count[1:])
  code_op, code_pred = jnp.asarray(codes.op), jnp.asarray(codes.pred)
  t = jnp.arange(1, t_max + 1)

  def one(key):
    key_length, key_layers = jax.random.split(key)
    length = jax.random.randint(key_length, (), 1, t_max + 1)
    code = jax.random.randint(key_layers, (t_max,), 0, count)
    real = t <= length
    op = jnp.where(real, code_op[code], opset.pad_id)
    pred = jnp.where(real[:, None], code_pred[code], 0)
    return Block(op.astype(jnp.int32), pred.astype(jnp.int32),
                 length.astype(jnp.int32), opset)

  return jax.vmap(one)(jax.random.split(key, batch))
