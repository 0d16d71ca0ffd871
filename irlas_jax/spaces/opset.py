"""Operation sets: the vocabulary that parameterises blocks, validation and features.

Every search space (the BlockQNN-style block space of Sec. 3.4, the
NAS-Bench-201 cell, the DARTS cell) writes its architectures as the paper's
layer sequence (Sec. 3.2): layer ``t`` applies an op to one or two earlier
nodes. An :class:`OpSet` says which ops exist, how many inputs each takes,
its kind and kernel size (the ``op type`` and ``kernel size`` of the state
feature), and how many input slots a block has. Blocks, validation, the
layer-code table, features and drawings are all written against this type,
so a new space is a new ``OpSet`` and nothing else changes.

Decisions taken here (the paper is silent or ambiguous):

* ``dwconv{k}x{k}`` is a depthwise-separable convolution, pre-activation:
  ReLU, depthwise k x k, pointwise 1 x 1, BN. The paper's 3.91M parameters
  need the pointwise part; a 1 x 1 depthwise conv alone would only scale each
  channel. So ``dwconv1x1`` is a pointwise conv with its (1 x 1) depthwise
  scale in front.
* ``add`` and ``concat`` are commutative: their two predecessors are stored
  in one canonical order (pred1 > pred2), so a block has one spelling.
  Channel order after a concat does not change what the network can compute
  (the next pointwise projection absorbs any permutation).
* Op ids ``0 .. num_ops - 1`` are the real ops in the order given; then come
  two reserved ids: ``terminal_id`` (the agent's "stop" action) and
  ``pad_id`` (rows of a block past its length).
* Node numbering: nodes ``0 .. num_inputs - 1`` are the block's inputs;
  layer ``t`` (1-based) is node ``num_inputs - 1 + t``. With one input slot
  (the block space) this is the paper's numbering: node 0 is the block input
  and layer t is node t. A layer's preds are node indices, each smaller than
  its own node index.
* ``pred2 == 0`` on a one-input op means "no second input" (the paper's
  convention); on a two-input op it means "the block input". The op's arity
  tells the two apart, so no extra sentinel is needed.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

TERMINAL_NAME = "terminal"
PAD_NAME = "pad"


@dataclasses.dataclass(frozen=True)
class OpSpec:
  """One operation of a search space.

  Attributes:
    name: unique name, e.g. ``"dwconv3x3"``.
    kind: op type shared by ops that differ only in kernel size, e.g.
      ``"dwconv"``, ``"maxpool"``; the ``op type`` of the paper's phi.
    kernel: spatial kernel size, 0 for ops without one (identity, add, ...).
    arity: number of inputs, 1 or 2.
    commutative: for two-input ops, whether input order is irrelevant (then
      preds are stored with pred1 > pred2).
    dilation: spatial dilation (the DARTS space has dilated convs).
  """
  name: str
  kind: str
  kernel: int = 0
  arity: int = 1
  commutative: bool = True
  dilation: int = 1

  def __post_init__(self):
    if self.arity not in (1, 2):
      raise ValueError(f"op {self.name!r}: arity must be 1 or 2, got {self.arity}")
    if self.kernel < 0:
      raise ValueError(f"op {self.name!r}: kernel must be >= 0, got {self.kernel}")


@dataclasses.dataclass(frozen=True)
class OpSet:
  """The ops of one search space, plus its number of input slots.

  Hashable and immutable, so it can be a static argument of ``jax.jit`` and
  static metadata of the :class:`~irlas_jax.spaces.block.Block` pytree.
  """
  name: str
  ops: tuple[OpSpec, ...]
  num_inputs: int = 1

  def __post_init__(self):
    names = [op.name for op in self.ops]
    if len(set(names)) != len(names):
      raise ValueError(f"op set {self.name!r}: duplicate op names in {names}")
    for reserved in (TERMINAL_NAME, PAD_NAME):
      if reserved in names:
        raise ValueError(f"op set {self.name!r}: {reserved!r} is a reserved name")
    if not self.ops:
      raise ValueError(f"op set {self.name!r}: needs at least one op")
    if self.num_inputs < 1:
      raise ValueError(f"op set {self.name!r}: num_inputs must be >= 1")

  # -- ids and names -------------------------------------------------------

  @property
  def num_ops(self) -> int:
    """Number of real ops (excluding terminal and padding)."""
    return len(self.ops)

  @property
  def terminal_id(self) -> int:
    return len(self.ops)

  @property
  def pad_id(self) -> int:
    return len(self.ops) + 1

  @property
  def names(self) -> tuple[str, ...]:
    """Names of all ids, real ops first, then terminal and padding."""
    return tuple(op.name for op in self.ops) + (TERMINAL_NAME, PAD_NAME)

  def op_id(self, name: str) -> int:
    """Id of a real op; a ValueError lists the known names otherwise."""
    try:
      return self.names.index(name, 0, self.num_ops)
    except ValueError:
      raise ValueError(
          f"unknown op {name!r} for op set {self.name!r}; known ops: "
          f"{', '.join(self.names[:self.num_ops])}") from None

  def op_name(self, op_id: int) -> str:
    if not 0 <= op_id < len(self.names):
      raise ValueError(f"op id {op_id} is out of range for op set {self.name!r}")
    return self.names[op_id]

  # -- node numbering ------------------------------------------------------

  def node(self, t: int) -> int:
    """Node index of (1-based) layer ``t``."""
    return self.num_inputs - 1 + t

  def num_nodes(self, t_max: int) -> int:
    """Input nodes plus ``t_max`` layer nodes."""
    return self.num_inputs + t_max

  # -- per-id tables (numpy, length num_ops + 2; reserved ids get 0) --------

  @functools.cached_property
  def kinds(self) -> tuple[str, ...]:
    """Distinct op kinds in first-appearance order."""
    return tuple(dict.fromkeys(op.kind for op in self.ops))

  @functools.cached_property
  def kernel_sizes(self) -> tuple[int, ...]:
    """Distinct nonzero kernel sizes, ascending."""
    return tuple(sorted({op.kernel for op in self.ops if op.kernel > 0}))

  @functools.cached_property
  def arity_table(self) -> np.ndarray:
    return np.array([op.arity for op in self.ops] + [0, 0], np.int32)

  @functools.cached_property
  def kind_table(self) -> np.ndarray:
    """1 + index into ``kinds``; 0 for the reserved ids."""
    return np.array([1 + self.kinds.index(op.kind) for op in self.ops] + [0, 0],
                    np.int32)

  @functools.cached_property
  def kernel_table(self) -> np.ndarray:
    return np.array([op.kernel for op in self.ops] + [0, 0], np.int32)

  @functools.cached_property
  def kernel_index_table(self) -> np.ndarray:
    """1 + index into ``kernel_sizes``; 0 for ops without a kernel."""
    return np.array(
        [1 + self.kernel_sizes.index(op.kernel) if op.kernel else 0
         for op in self.ops] + [0, 0], np.int32)

  @functools.cached_property
  def commutative_table(self) -> np.ndarray:
    return np.array([op.arity == 2 and op.commutative for op in self.ops]
                    + [False, False], bool)

  def __repr__(self) -> str:
    return (f"OpSet({self.name!r}, ops=[{', '.join(op.name for op in self.ops)}],"
            f" num_inputs={self.num_inputs})")


def _dwconv(k: int) -> OpSpec:
  return OpSpec(f"dwconv{k}x{k}", "dwconv", kernel=k)


# The block space of Sec. 3.4 (BlockQNN-style).
BLOCK_OPS = OpSet(
    name="block",
    ops=(
        _dwconv(1), _dwconv(3), _dwconv(5),
        OpSpec("maxpool3x3", "maxpool", kernel=3),
        OpSpec("maxpool5x5", "maxpool", kernel=5),
        OpSpec("avgpool3x3", "avgpool", kernel=3),
        OpSpec("avgpool5x5", "avgpool", kernel=5),
        OpSpec("identity", "identity"),
        OpSpec("add", "add", arity=2),
        OpSpec("concat", "concat", arity=2),
    ),
    num_inputs=1,
)


_OPSETS: dict[str, OpSet] = {}


def register_opset(opset: OpSet) -> OpSet:
  """Makes ``opset`` findable by name (for saved files and configs)."""
  known = _OPSETS.get(opset.name)
  if known is not None and known != opset:
    raise ValueError(f"another op set is already registered as {opset.name!r}")
  _OPSETS[opset.name] = opset
  return opset


def get_opset(name: str) -> OpSet:
  """The registered op set called ``name``."""
  if name not in _OPSETS:
    raise ValueError(f"unknown op set {name!r}; known op sets: {', '.join(_OPSETS)}")
  return _OPSETS[name]


register_opset(BLOCK_OPS)
