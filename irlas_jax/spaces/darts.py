"""The DARTS cell space (Liu et al., ICLR 2019) as the paper's layer sequence (Sec. 3.5).

A DARTS cell has two inputs, ``c_{k-2}`` and ``c_{k-1}`` (DARTS input indices
0 and 1), and ``steps = 4`` intermediate nodes (indices 2 .. 5). Intermediate
node ``i`` sums two edges; each edge applies one op of :data:`PRIMITIVES` to
one earlier node (a cell input or an earlier intermediate node). The cell's
output is the channel concat of the intermediate nodes. A network has a
normal cell and a reduction cell; a :class:`Genotype` holds both, and prints
and parses in the DARTS format::

  Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 1), ...],
           normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))

Conversion of a cell to the layer sequence (``DARTS_OPS``, two input slots),
so that features, the MSF, IRL and drawings work unchanged:

* the op set ``DARTS_OPS`` ("darts") holds the seven real DARTS ops as
  one-input ops (``max_pool_3x3``, ``avg_pool_3x3``, ``skip_connect``,
  ``sep_conv_3x3``, ``sep_conv_5x5``, ``dil_conv_3x3``, ``dil_conv_5x5``;
  dilated convs carry ``dilation=2``), plus the two-input ``add`` and
  ``concat``. ``none`` is a supernet op (a zero edge) but never an edge of a
  genotype, so it is not a layer op;
* block nodes 0 and 1 are the cell inputs ``c_{k-2}``, ``c_{k-1}``
  (``num_inputs = 2``, see :mod:`irlas_jax.spaces.opset`);
* intermediate node ``i`` (0-based) is three layers: its two edges, each a
  one-input layer of the edge's op reading the edge's input, and an ``add``
  of the two edge layers. The two edges are written in a canonical order
  (by input index, then op), so the layer sequence of a node does not depend
  on the order DARTS lists its edges in. Layer ``3 i + 3`` (block node
  ``3 i + 4``) is intermediate node ``i``; DARTS input ``j >= 2`` is block
  node ``3 (j - 2) + 4``;
* the output: the block convention concatenates the layers without
  successor, but DARTS concatenates *every* intermediate node, including
  those read by later nodes. So the output concat is written explicitly as a
  chain of two-input ``concat`` layers over the concat nodes (in order):
  ``concat(n_1, n_0)``, then ``concat(previous, n_2)``, ``concat(previous,
  n_3)``. The last concat is then the only layer without successor, and the
  block output is exactly the DARTS cell output;
* with 4 nodes and the full concat a cell is always ``3 * 4 + 3 = 15``
  layers: ``T_MAX = 15`` is the space's t_max. The three concat layers (and
  the positions of the adds) are the same for every genotype: they add a
  constant to F and change no comparison between cells.

The expert (``darts_resnet``, the space's default): the paper's expert is the
ResNet basic block with depthwise convs, ``x + dw3(dw3(x))``. DARTS'
``sep_conv_3x3`` is itself two stacked ReLU-depthwise-pointwise-BN units, so
``sep_conv_3x3(h) + skip_connect(h)`` would be exactly that block, but it
is not a DARTS genotype: the supernet has one edge per (input, node) pair
and the derivation keeps two *distinct* inputs per node, so no search could
reach it. The expert is therefore the closest reachable residual cell: a
chain of ``sep_conv_3x3`` through the nodes, each node adding the identity
shortcut of the node before its conv's input,
``y_i = sep_conv_3x3(y_{i-1}) + skip_connect(y_{i-2})`` with ``y_0 = c_{k-2}``,
``y_1 = c_{k-1}`` (so every node is a residual unit whose shortcut skips
one more node than ResNet's). The expert genotype uses the same cell as
normal and reduction cell (the reduction cell's stride-2 ``skip_connect`` is
DARTS' factorized reduce, the ResNet downsampling shortcut).

A genotype's F (:func:`genotype_blocks`): both cells are scored as layer
sequences by one MSF fitted on the expert cell; see
:mod:`irlas_jax.strategies.darts` for how they are combined. The encoding
matters here: under ``relative_depth`` (the block space's default) an
all-``skip_connect`` cell scores above the expert among DARTS cells (its op
features are not crossed with position); under ``positional`` the expert is
the best DARTS cell (tested by enumeration), so the DARTS configs fit the
MSF with ``positional`` (``--config.irl.encoding=positional`` for the irl
job).

:func:`cells_to_blocks` is the pure-jnp conversion (no Python loop over
data) of sampled ``(ops, inputs)`` arrays to Blocks, used inside the jitted
alpha step; :func:`genotype_to_layers` the host-side one; both give the same
layers (tested).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.spaces import experts
from irlas_jax.spaces.block import Block, from_layers
from irlas_jax.spaces.opset import OpSet, OpSpec, register_opset

# The DARTS search-space ops, in DARTS' order; index 0 ("none") is the zero op.
PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
STEPS = 4  # intermediate nodes per cell (DARTS)
MULTIPLIER = 4  # concatenated nodes per cell (DARTS)
T_MAX = 3 * STEPS + (MULTIPLIER - 1)  # 15 layers per cell (module docstring)

DARTS_OPS = register_opset(OpSet(
    name="darts",
    ops=(
        OpSpec("max_pool_3x3", "max_pool", kernel=3),
        OpSpec("avg_pool_3x3", "avg_pool", kernel=3),
        OpSpec("skip_connect", "skip_connect"),
        OpSpec("sep_conv_3x3", "sep_conv", kernel=3),
        OpSpec("sep_conv_5x5", "sep_conv", kernel=5),
        OpSpec("dil_conv_3x3", "dil_conv", kernel=3, dilation=2),
        OpSpec("dil_conv_5x5", "dil_conv", kernel=5, dilation=2),
        OpSpec("add", "add", arity=2),
        OpSpec("concat", "concat", arity=2),
    ),
    num_inputs=2,
))

# Layer-op id of each primitive (-1 for "none", which is never a layer).
PRIMITIVE_TO_OP = np.array([-1] + [DARTS_OPS.op_id(p) for p in PRIMITIVES[1:]],
                           np.int32)
ADD_ID = DARTS_OPS.op_id("add")
CONCAT_ID = DARTS_OPS.op_id("concat")

Edge = tuple  # (op_name, input_index)


def num_edges(steps: int = STEPS) -> int:
  """Edges of the supernet cell: node i has i + 2 incoming edges (14 for 4 nodes)."""
  return sum(i + 2 for i in range(steps))


def edge_offsets(steps: int = STEPS) -> tuple[int, ...]:
  """Index of node i's first edge in the [num_edges] alpha rows (DARTS order)."""
  return tuple(sum(j + 2 for j in range(i)) for i in range(steps))


# -- genotype -------------------------------------------------------------------

def _concat_repr(concat: tuple[int, ...]) -> str:
  if len(concat) > 1 and list(concat) == list(range(concat[0], concat[-1] + 1)):
    return f"range({concat[0]}, {concat[-1] + 1})"
  return repr(list(concat))


def _check_cell(cell, concat, field: str) -> None:
  if len(cell) == 0 or len(cell) % 2:
    raise ValueError(f"Genotype.{field}: a cell lists two (op, input) edges per "
                     f"node, got {len(cell)} edges")
  for e, edge in enumerate(cell):
    if len(edge) != 2:
      raise ValueError(f"Genotype.{field}[{e}]: expected (op_name, input), got {edge!r}")
    op, j = edge
    node = e // 2
    if op not in PRIMITIVES[1:]:
      raise ValueError(f"Genotype.{field}[{e}]: unknown op {op!r}; DARTS edge ops: "
                       f"{', '.join(PRIMITIVES[1:])}")
    if not isinstance(j, (int, np.integer)) or not 0 <= j < node + 2:
      raise ValueError(f"Genotype.{field}[{e}] (node {node + 2}): input {j!r} is not "
                       f"an earlier node (must be in 0..{node + 1})")
  steps = len(cell) // 2
  if not concat:
    raise ValueError(f"Genotype.{field}_concat is empty")
  for c in concat:
    if not isinstance(c, (int, np.integer)) or not 0 <= c < steps + 2:
      raise ValueError(f"Genotype.{field}_concat: node {c!r} is not a node of a "
                       f"{steps}-node cell (0..{steps + 1})")


@dataclasses.dataclass(frozen=True)
class Genotype:
  """A DARTS architecture: normal and reduction cell, each ``[(op, input), ...]``.

  Edges ``2 i`` and ``2 i + 1`` feed intermediate node ``i + 2``; an input
  index is 0 (``c_{k-2}``), 1 (``c_{k-1}``) or an earlier intermediate node.
  ``str(genotype)`` is the DARTS format; :meth:`parse` reads it back.
  """
  normal: tuple[Edge, ...]
  normal_concat: tuple[int, ...]
  reduce: tuple[Edge, ...]
  reduce_concat: tuple[int, ...]

  def __post_init__(self):
    for field in ("normal", "reduce"):
      cell = tuple((str(op), int(j)) if isinstance(j, (int, np.integer)) else (op, j)
                   for op, j in (tuple(e) for e in getattr(self, field)))
      object.__setattr__(self, field, cell)
      concat = tuple(int(c) for c in getattr(self, field + "_concat"))
      object.__setattr__(self, field + "_concat", concat)
      _check_cell(cell, concat, field)

  @property
  def steps(self) -> int:
    return len(self.normal) // 2

  def __str__(self) -> str:
    return (f"Genotype(normal={list(self.normal)!r}, "
            f"normal_concat={_concat_repr(self.normal_concat)}, "
            f"reduce={list(self.reduce)!r}, "
            f"reduce_concat={_concat_repr(self.reduce_concat)})")

  __repr__ = __str__

  @classmethod
  def parse(cls, text: str) -> "Genotype":
    """Reads ``str(genotype)`` (the DARTS format); no code is evaluated."""
    try:
      tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
      raise ValueError(f"not a Genotype string: {text!r} ({e.msg})") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)
            and tree.func.id == "Genotype" and not tree.args):
      raise ValueError(f"expected 'Genotype(normal=..., normal_concat=..., "
                       f"reduce=..., reduce_concat=...)', got {text!r}")
    fields = {}
    for kw in tree.keywords:
      value = kw.value
      if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
          and value.func.id == "range"):
        fields[kw.arg] = tuple(range(*[ast.literal_eval(a) for a in value.args]))
      else:
        try:
          fields[kw.arg] = ast.literal_eval(value)
        except ValueError:
          raise ValueError(f"Genotype field {kw.arg!r}: not a literal in {text!r}") from None
    names = {f.name for f in dataclasses.fields(cls)}
    if set(fields) != names:
      raise ValueError(f"a Genotype needs exactly the fields {sorted(names)}, got "
                       f"{sorted(fields)}")
    return cls(**fields)

  def to_json(self) -> dict:
    return {"genotype": str(self), "normal": [list(e) for e in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(e) for e in self.reduce],
            "reduce_concat": list(self.reduce_concat)}


def genotype_from_arrays(ops_normal, inputs_normal, ops_reduce, inputs_reduce,
                         concat: Sequence[int] | None = None) -> Genotype:
  """A Genotype from int arrays [steps, 2] of primitive indices and inputs."""
  def cell(ops, inputs):
    ops, inputs = np.asarray(ops), np.asarray(inputs)
    return tuple((PRIMITIVES[int(o)], int(j)) for o, j in zip(ops.ravel(), inputs.ravel()))
  steps = np.asarray(ops_normal).shape[0]
  concat = tuple(range(2, steps + 2)) if concat is None else tuple(concat)
  return Genotype(cell(ops_normal, inputs_normal), concat,
                  cell(ops_reduce, inputs_reduce), concat)


# -- genotype -> layer sequence ------------------------------------------------

def _block_node(j: int) -> int:
  """Block node of DARTS node index j (inputs 0, 1; node i+2 is layer 3i+3)."""
  return j if j < 2 else 3 * (j - 2) + 4


def cell_to_layers(cell: Sequence[Edge], concat: Sequence[int]) -> list[tuple[str, int, int]]:
  """The layer sequence of one DARTS cell (module docstring)."""
  layers = []
  for i in range(len(cell) // 2):
    pair = sorted(cell[2 * i: 2 * i + 2],
                  key=lambda e: (int(e[1]), PRIMITIVES.index(e[0])))
    for op, j in pair:
      layers.append((op, _block_node(int(j)), 0))
    node = 3 * i + 4
    layers.append(("add", node - 1, node - 2))
  out = _block_node(int(concat[0]))
  for c in concat[1:]:
    layers.append(("concat", *sorted((out, _block_node(int(c))), reverse=True)))
    out = len(layers) + 1  # node of the concat just added
  return layers


def genotype_to_layers(genotype: Genotype, cell: str = "normal"
                       ) -> list[tuple[str, int, int]]:
  """Layers of ``genotype``'s ``"normal"`` or ``"reduce"`` cell."""
  if cell not in ("normal", "reduce"):
    raise ValueError(f"cell must be 'normal' or 'reduce', got {cell!r}")
  return cell_to_layers(getattr(genotype, cell), getattr(genotype, cell + "_concat"))


def genotype_blocks(genotype: Genotype, t_max: int = T_MAX) -> tuple[Block, Block]:
  """``(normal, reduce)`` cells of ``genotype`` as validated Blocks of ``DARTS_OPS``."""
  blocks = []
  for cell in ("normal", "reduce"):
    layers = genotype_to_layers(genotype, cell)
    if len(layers) > t_max:
      raise ValueError(f"the {cell} cell is {len(layers)} layers, more than "
                       f"t_max={t_max}")
    blocks.append(from_layers(layers, t_max=t_max, opset=DARTS_OPS))
  return blocks[0], blocks[1]


@functools.partial(jax.jit, static_argnames=("t_max",))
def cells_to_blocks(ops: jax.Array, inputs: jax.Array, t_max: int = T_MAX) -> Block:
  """Pure-jnp :func:`cell_to_layers` for cells with every node concatenated.

  Args:
    ops: int[..., steps, 2], primitive indices (1 .. 7; never 0, "none").
    inputs: int[..., steps, 2], DARTS input indices of the edges.
    t_max: block size (at least ``3 steps + steps - 1``).

  Returns:
    A Block (batched like ``ops``) equal to ``from_layers(cell_to_layers(...))``.
  """
  steps = ops.shape[-2]
  length = 3 * steps + steps - 1
  if inputs.shape != ops.shape or ops.shape[-1] != 2:
    raise ValueError(f"ops and inputs must both be [..., steps, 2], got {ops.shape} "
                     f"and {inputs.shape}")
  if length > t_max:
    raise ValueError(f"a {steps}-node cell is {length} layers, more than t_max={t_max}")
  batch = ops.shape[:-2]
  # Canonical edge order inside a node: by input, then by op.
  swap = (inputs[..., 0] > inputs[..., 1]) | (
      (inputs[..., 0] == inputs[..., 1]) & (ops[..., 0] > ops[..., 1]))
  ops = jnp.where(swap[..., None], ops[..., ::-1], ops)
  inputs = jnp.where(swap[..., None], inputs[..., ::-1], inputs)
  edge_op = jnp.asarray(PRIMITIVE_TO_OP)[ops]
  edge_pred = jnp.where(inputs < 2, inputs, 3 * (inputs - 2) + 4)
  node = 3 * jnp.arange(steps) + 4
  add_op = jnp.broadcast_to(ADD_ID, batch + (steps, 1))
  add_pred = jnp.broadcast_to(jnp.stack([node - 1, node - 2], -1)[:, None, :],
                              batch + (steps, 1, 2))
  edge_pred = jnp.stack([edge_pred, jnp.zeros_like(edge_pred)], -1)
  op = jnp.concatenate([edge_op, add_op], -1).reshape(batch + (3 * steps,))
  pred = jnp.concatenate([edge_pred, add_pred], -2).reshape(batch + (3 * steps, 2))
  # The output concat chain (identical for every cell).
  nodes = 3 * np.arange(steps) + 4
  chain = [(nodes[1], nodes[0])] + [(3 * steps + k + 1, nodes[k + 1])
                                    for k in range(1, steps - 1)]
  chain_pred = jnp.asarray(np.array(chain, np.int32).reshape(-1, 2))
  pad = t_max - length
  op = jnp.concatenate([op, jnp.broadcast_to(CONCAT_ID, batch + (steps - 1,)),
                        jnp.broadcast_to(DARTS_OPS.pad_id, batch + (pad,))], -1)
  pred = jnp.concatenate([pred, jnp.broadcast_to(chain_pred, batch + (steps - 1, 2)),
                          jnp.zeros(batch + (pad, 2), jnp.int32)], -2)
  return Block(op.astype(jnp.int32), pred.astype(jnp.int32),
               jnp.full(batch, length, jnp.int32), DARTS_OPS)


# -- the expert ------------------------------------------------------------------

# y_i = sep_conv_3x3(y_{i-1}) + skip_connect(y_{i-2}) (module docstring).
RESNET_CELL = (("sep_conv_3x3", 1), ("skip_connect", 0),
               ("sep_conv_3x3", 2), ("skip_connect", 1),
               ("sep_conv_3x3", 3), ("skip_connect", 2),
               ("sep_conv_3x3", 4), ("skip_connect", 3))
RESNET_GENOTYPE = Genotype(RESNET_CELL, tuple(range(2, 6)), RESNET_CELL,
                           tuple(range(2, 6)))
# DARTS (second order) as published (Liu et al., 2019, genotypes.DARTS_V2).
DARTS_V2 = Genotype.parse(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=range(2, 6))")

EXPERT_NAME = "darts_resnet"
experts.register_expert(EXPERT_NAME, cell_to_layers(RESNET_CELL, range(2, 6)), DARTS_OPS)
# positional: under relative_depth an all-skip_connect cell outscores the
# expert among DARTS cells (1.598 vs 1.507); under positional the expert is
# the best cell (tests/test_darts_strategy.py).
experts.set_space_default(DARTS_OPS.name, EXPERT_NAME, T_MAX, encoding="positional")
