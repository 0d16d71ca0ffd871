"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020) as a layer sequence.

A cell is a DAG on 4 nodes: node 0 is the cell input, node 3 its output, and
every pair ``i < j`` is an edge carrying one of five ops. Node ``j`` is the
sum of its incoming edges. The 6 edges, in the order of NAS-Bench-201's cell
string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, are

    (0 -> 1), (0 -> 2), (1 -> 2), (0 -> 3), (1 -> 3), (2 -> 3)

and a cell is ``int32[6]`` op ids in :data:`EDGE_OPS` order. There are
``5 ** 6 = 15,625`` cells; ``encode`` numbers them in base 5 (edge 0 the
least significant digit). That code is this module's cell index; the
benchmark table's own row order (its ``arch`` column) differs, and
:mod:`irlas_jax.evaluate.tabular` maps codes to rows.

How a cell becomes the paper's layer sequence (so that features, the mirror
stimuli function and IRL work unchanged), with this space's op set
:data:`NB201_OPS` (one input slot):

* every edge whose op is not ``none`` and whose source node is live is one
  layer of that op (``skip_connect`` included: the issue asks for every edge,
  and a skip is what distinguishes a residual cell) reading its source node;
* a node with one such edge *is* that layer; a node with k > 1 is the chain
  of ``add`` layers ``add(e1, e2)``, ``add(that, e3)``; a node with none is
  zero ("dead": its out-edges compute zero and are dropped too);
* only layers that reach the output node 3 are kept (NAS-Bench-201 discards
  every node but node 3, so a branch that does not reach it does not change
  what the cell computes; cells that differ only there map to the same layer
  sequence, and the tabular accuracy still tells them apart);
* a cell whose output node is dead (it outputs zeros) is one ``zero`` layer
  reading the input, so that every cell is a block of at least one layer;
* layers are ordered node by node (1, 2, 3), within a node by source node,
  each node's adds right after its edges: the order in which the cell string
  is written.

At most 6 edge layers and 3 adds (1 for node 2, 2 for node 3): ``T_MAX = 9``.

The ResNet-like cell of NAS-Bench-201 (two 3x3 convs with a skip around them:
``|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|``)
is this space's default expert, ``nb201_resnet``. Note: the data README names
row 1601, ``...|+|skip_connect~0|none~1|none~2|``, the ResNet-like cell; in
that cell node 3 reads only the skip from the input (the conv path reaches
node 2 and stops), so it computes the identity, not a residual block: its
layer sequence is one ``skip_connect`` layer. :data:`RESNET_CELL` is the
cell with the second skip (row 11472 of the table).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.spaces import experts
from irlas_jax.spaces.block import Block, from_layers
from irlas_jax.spaces.opset import OpSet, OpSpec, register_opset

EDGE_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_OPS = len(EDGE_OPS)
# (source, target) of the 6 edges, in cell-string order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_EDGES = len(EDGES)
NUM_CELLS = NUM_OPS ** NUM_EDGES
T_MAX = 9

RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"

NB201_OPS = register_opset(OpSet(
    name="nb201",
    ops=(
        OpSpec("skip_connect", "identity"),
        OpSpec("nor_conv_1x1", "conv", kernel=1),  # ReLU-conv-BN
        OpSpec("nor_conv_3x3", "conv", kernel=3),
        OpSpec("avg_pool_3x3", "avgpool", kernel=3),
        OpSpec("add", "add", arity=2),  # the sum at a node with several edges
        OpSpec("zero", "zero"),  # a cell whose output is zero
    ),
    num_inputs=1,
))


def parse(cell_string: str) -> np.ndarray:
  """``int32[6]`` op ids of a NAS-Bench-201 cell string.

  Raises:
    ValueError: naming the node or edge that does not fit the format.
  """
  if not isinstance(cell_string, str):
    raise ValueError(f"a cell string must be a str, got {type(cell_string).__name__}")
  nodes = cell_string.split("+")
  if len(nodes) != 3:
    raise ValueError(f"cell {cell_string!r}: expected 3 nodes separated by '+', "
                     f"got {len(nodes)}")
  ops = []
  for j, node in enumerate(nodes, start=1):
    if not (node.startswith("|") and node.endswith("|")):
      raise ValueError(f"cell {cell_string!r}: node {j} {node!r} must be written "
                       f"'|op~i|...|'")
    edges = node[1:-1].split("|")
    if len(edges) != j:
      raise ValueError(f"cell {cell_string!r}: node {j} needs {j} incoming edges, "
                       f"got {len(edges)}")
    for i, edge in enumerate(edges):
      name, _, source = edge.partition("~")
      if name not in EDGE_OPS:
        raise ValueError(f"cell {cell_string!r}: edge {i}->{j} has unknown op {name!r}; "
                         f"known: {', '.join(EDGE_OPS)}")
      if source != str(i):
        raise ValueError(f"cell {cell_string!r}: edge {edge!r} of node {j} must read "
                         f"node {i} (edges are written in source order)")
      ops.append(EDGE_OPS.index(name))
  return np.asarray(ops, np.int32)


def to_string(cell) -> str:
  """The NAS-Bench-201 cell string of ``int32[6]`` op ids."""
  ops = _check_cell(cell)
  parts, e = [], 0
  for j in range(1, 4):
    parts.append("|" + "|".join(f"{EDGE_OPS[ops[e + i]]}~{i}" for i in range(j)) + "|")
    e += j
  return "+".join(parts)


def _check_cell(cell) -> np.ndarray:
  ops = np.asarray(cell)
  if ops.shape != (NUM_EDGES,) or not np.issubdtype(ops.dtype, np.integer):
    raise ValueError(f"a cell is int[{NUM_EDGES}] op ids, got shape {ops.shape} "
                     f"dtype {ops.dtype}")
  if ops.min() < 0 or ops.max() >= NUM_OPS:
    raise ValueError(f"cell {ops.tolist()}: op ids must be in 0..{NUM_OPS - 1}")
  return ops


_POWERS = NUM_OPS ** np.arange(NUM_EDGES)


def encode(cells) -> jax.Array:
  """Cell index (base 5, edge 0 least significant) of ``int[..., 6]`` cells."""
  return jnp.sum(jnp.asarray(cells, jnp.int32) * jnp.asarray(_POWERS, jnp.int32), axis=-1)


def decode(codes) -> jax.Array:
  """``int32[..., 6]`` cells of cell indices (the inverse of :func:`encode`)."""
  codes = jnp.asarray(codes, jnp.int32)
  return (codes[..., None] // jnp.asarray(_POWERS, jnp.int32)) % NUM_OPS


def all_cells() -> np.ndarray:
  """``int32[15625, 6]``: every cell, row ``c`` being the cell of code ``c``."""
  return np.asarray(decode(np.arange(NUM_CELLS)))


def to_layers(cell) -> list[tuple[str, int, int]]:
  """The layer sequence of a cell (see the module docstring)."""
  ops = _check_cell(cell)
  value = {0: 0}  # node -> block node holding its value (absent: dead)
  layers: list[tuple[str, int, int]] = []
  for j in range(1, 4):
    edge_nodes = []
    for e, (i, target) in enumerate(EDGES):
      if target != j or ops[e] == 0 or i not in value:
        continue
      layers.append((EDGE_OPS[ops[e]], value[i], 0))
      edge_nodes.append(len(layers))
    if edge_nodes:
      node = edge_nodes[0]
      for other in edge_nodes[1:]:
        layers.append(("add", max(node, other), min(node, other)))
        node = len(layers)
      value[j] = node
  if 3 not in value:
    return [("zero", 0, 0)]
  return _reachable(layers, value[3])


def _reachable(layers, output: int) -> list[tuple[str, int, int]]:
  """Keeps the layers ``output`` depends on, renumbered in order."""
  keep = set()
  stack = [output]
  while stack:
    t = stack.pop()
    if t == 0 or t in keep:
      continue
    keep.add(t)
    name, p1, p2 = layers[t - 1]
    stack.extend([p1] + ([p2] if name == "add" else []))
  new_index = {0: 0}
  kept = []
  for t in sorted(keep):
    name, p1, p2 = layers[t - 1]
    kept.append((name, new_index[p1], new_index[p2] if name == "add" else 0))
    new_index[t] = len(kept)
  return kept


def to_block(cell, t_max: int = T_MAX) -> Block:
  """The cell as a validated :class:`Block` of :data:`NB201_OPS`."""
  return from_layers(to_layers(cell), t_max=t_max, opset=NB201_OPS)


@functools.lru_cache(maxsize=4)
def all_blocks(t_max: int = T_MAX) -> Block:
  """Every cell as a block, batched by cell index (15,625 blocks)."""
  op = np.empty((NUM_CELLS, t_max), np.int32)
  pred = np.empty((NUM_CELLS, t_max, 2), np.int32)
  length = np.empty((NUM_CELLS,), np.int32)
  unique: dict[tuple, Block] = {}
  for code, cell in enumerate(all_cells()):
    layers = tuple(to_layers(cell))
    if layers not in unique:  # validated once per distinct layer sequence
      unique[layers] = jax.device_get(
          from_layers(list(layers), t_max=t_max, opset=NB201_OPS))
    block = unique[layers]
    op[code], pred[code], length[code] = block.op, block.pred, block.length
  return Block(jnp.asarray(op), jnp.asarray(pred), jnp.asarray(length), NB201_OPS)


def sample(key: jax.Array, batch: int) -> jax.Array:
  """``int32[batch, 6]`` cells drawn uniformly (with replacement)."""
  return jax.random.randint(key, (batch, NUM_EDGES), 0, NUM_OPS, jnp.int32)


def mutate(key: jax.Array, cell: jax.Array) -> jax.Array:
  """One-edge mutation: one edge (uniform) takes another op (uniform among 4)."""
  k_edge, k_op = jax.random.split(key)
  edge = jax.random.randint(k_edge, (), 0, NUM_EDGES)
  shift = jax.random.randint(k_op, (), 1, NUM_OPS)
  return cell.at[edge].set((cell[edge] + shift) % NUM_OPS)


experts.register_expert("nb201_resnet", to_layers(parse(RESNET_CELL)), NB201_OPS)
# positional: the one encoding under which Alg. 1 (RL step by enumeration of
# the cells) makes the ResNet cell the best of all 15,625 cells; with
# relative_depth (the block space's default) it ranks 130th (measured; see
# tests/test_nb201.py).
experts.set_space_default("nb201", "nb201_resnet", T_MAX, encoding="positional")
