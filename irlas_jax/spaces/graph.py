"""Blocks as graphs: ``jraph.GraphsTuple`` conversion and a canonical hash.

**The graph of a block.** A block (Sec. 3.2) is a DAG: its nodes are the
``opset.num_inputs`` block inputs and its ``length`` real layers; layer
``t`` receives one edge from each of its inputs (one edge for a one-input op,
two for a two-input op). Padding rows are not part of the graph. Within a
graph, node ``i`` is block node ``i`` (inputs first, then layers in order),
so node ``num_inputs - 1 + t`` is layer ``t``.

:func:`to_graphs_tuple` writes one graph per block into a
``jraph.GraphsTuple`` (numpy arrays, host side):

* ``nodes["op"]``: int32[n]; the op id of a layer node, and
  ``-1 - slot`` for the input node of input slot ``slot`` (so ``-1`` is the
  block input of the one-input block space). Non-negative exactly on layers.
* ``nodes["onehot"]``: float32[n, num_ops + num_inputs]; columns
  ``0 .. num_ops - 1`` one-hot the op id of a layer, column
  ``num_ops + slot`` marks the input node of input slot ``slot``.
* ``edges["slot"]``: int32[e]; 0 for the edge from ``pred1``, 1 for the edge
  from ``pred2`` (the stored order; commutative ops store pred1 > pred2).
  Edges run pred -> layer, ordered by layer, then slot.
* ``globals["length"]``, ``globals["t_max"]``: int32[n_graph], the block's
  length and padded size, so :func:`from_graphs_tuple` rebuilds the block
  exactly (op ids, preds in their stored order, length, t_max).

The batch is padded with ``jraph.pad_with_graphs`` to sizes that depend only
on ``(opset.num_inputs, t_max, number of blocks)`` (see :func:`padded_sizes`),
so every block of a space gives the same array shapes and a jitted graph net
compiles once. Padding nodes, edges and graphs carry zeros (a padding graph
has ``t_max = 0``, which is how :func:`from_graphs_tuple` tells it apart).
The block output (the concat of layers without successor) is implicit: it is
not a node of the ``GraphsTuple``.

**The canonical hash.** Two blocks compute the same function up to a
relabelling of their weights exactly when their labelled DAGs are
isomorphic: listing two independent branches in the other order, or
numbering the layers differently in any order consistent with the data flow,
changes the layer sequence but not the network. :func:`canonical_hash` hashes
the isomorphism class of a vertex-coloured directed graph:

* one vertex per input slot, coloured ``input:<slot>`` (slots are not
  interchangeable);
* one vertex per layer, coloured ``op:<name>``;
* one ``output`` vertex with an edge from every layer without successor (the
  output concat is unordered, so these edges are not ordered);
* an edge pred -> layer for each input of a one-input or commutative
  two-input op (their inputs are unordered); for a non-commutative two-input
  op, each input edge is subdivided by a vertex coloured ``slot:0`` or
  ``slot:1``, so the input order is part of the graph.

nauty (through ``pynauty.canon_label``) computes a canonical labelling of
this graph with the colour classes given in one fixed order (sorted by
label). The SHA-256 digest covers: a version tag, the op set (its name,
number of inputs, and every op's name, kind, kernel, arity, commutativity and
dilation, so blocks of different spaces never collide), every possible colour
class with its size (empty classes too, so the partitions are comparable),
and the sorted edge list of the canonically relabelled graph. That edge list
carries the same information as ``pynauty.certificate`` but, unlike the
certificate's raw nauty set words, does not depend on nauty's word size or
the machine's byte order. The digest never uses Python's ``hash``, so it is
the same in every process; it can change only if nauty's canonical form
changes (a different nauty version).

Padding is not part of the graph, so ``t_max`` does not affect the hash: a
block padded to 6 or to 24 layers hashes the same.
"""

from __future__ import annotations

from collections.abc import Sequence
import hashlib
import json

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pynauty

from irlas_jax.spaces.block import Block, validate
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet

HASH_VERSION = "irlas_jax.canonical_hash.v1"


# -- host-side views of blocks ---------------------------------------------


def _host_arrays(blocks) -> tuple[OpSet, np.ndarray, np.ndarray, np.ndarray, bool]:
  """``(opset, op[B, T], pred[B, T, 2], length[B], single)`` in numpy.

  Accepts a single block, a batched block (any number of batch axes,
  flattened in C order) or a non-empty list of blocks of one op set and
  ``t_max``. ``single`` says whether a single block was given. Validates.
  """
  if isinstance(blocks, Block):
    validate(blocks)
    op = np.asarray(blocks.op, np.int32)
    t_max = op.shape[-1]
    return (blocks.opset, op.reshape(-1, t_max),
            np.asarray(blocks.pred, np.int32).reshape(-1, t_max, 2),
            np.asarray(blocks.length, np.int32).reshape(-1), not blocks.batch_shape)
  if isinstance(blocks, Sequence) and not isinstance(blocks, (str, bytes)):
    if not blocks:
      raise ValueError("expected a block, a batch of blocks or a non-empty list "
                       "of blocks, got an empty list")
    for i, b in enumerate(blocks):
      if not isinstance(b, Block):
        raise ValueError(f"item {i} of the list is a {type(b).__name__}, not a Block")
    parts = [_host_arrays(b) for b in blocks]
    opset, t_max = parts[0][0], parts[0][1].shape[-1]
    for i, (o, op, *_) in enumerate(parts):
      if o != opset or op.shape[-1] != t_max:
        raise ValueError(
            f"block {i} has op set {o.name!r} and t_max {op.shape[-1]}, block 0 "
            f"has {opset.name!r} and {t_max}: a list must share op set and t_max")
    return (opset, np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            np.concatenate([p[3] for p in parts]), False)
  raise ValueError(f"expected a Block or a list of Blocks, got {type(blocks).__name__}")


def _edges(opset: OpSet, op: np.ndarray, pred: np.ndarray, length: int):
  """``(senders, receivers, slot)`` of one block's graph, by layer then slot."""
  n = int(length)
  ops = op[:n]
  used = np.arange(2)[None, :] < opset.arity_table[ops][:, None]  # [n, 2]
  receivers = np.broadcast_to(opset.num_inputs + np.arange(n)[:, None], (n, 2))
  slots = np.broadcast_to(np.arange(2)[None, :], (n, 2))
  return (pred[:n][used].astype(np.int32), receivers[used].astype(np.int32),
          slots[used].astype(np.int32))


def _node_op(opset: OpSet, op: np.ndarray, length: int) -> np.ndarray:
  """Node ``op`` feature: ``-1 - slot`` for inputs, then the layers' op ids."""
  return np.concatenate([-1 - np.arange(opset.num_inputs, dtype=np.int32),
                         op[:int(length)].astype(np.int32)])


def _onehot(opset: OpSet, node_op: np.ndarray) -> np.ndarray:
  """float32[n, num_ops + num_inputs] one-hot of the node ``op`` feature."""
  column = np.where(node_op >= 0, node_op, opset.num_ops - 1 - node_op)
  onehot = np.zeros((node_op.shape[0], opset.num_ops + opset.num_inputs), np.float32)
  onehot[np.arange(node_op.shape[0]), column] = 1.0
  return onehot


# -- GraphsTuple -------------------------------------------------------------


def padded_sizes(opset: OpSet, t_max: int, num_graphs: int) -> tuple[int, int, int]:
  """``(n_node, n_edge, n_graph)`` that :func:`to_graphs_tuple` pads to.

  ``num_graphs * (num_inputs + t_max) + 1`` nodes (at least one padding node,
  as ``jraph.pad_with_graphs`` requires), ``num_graphs * 2 * t_max`` edges and
  ``num_graphs + 1`` graphs (one padding graph).
  """
  return (num_graphs * opset.num_nodes(t_max) + 1, num_graphs * 2 * t_max,
          num_graphs + 1)


def to_graphs_tuple(blocks) -> jraph.GraphsTuple:
  """The padded ``jraph.GraphsTuple`` of one block, a batch or a list of blocks.

  One graph per block (a batch with several batch axes is flattened in C
  order), then one padding graph; sizes are :func:`padded_sizes`. The
  features are described in the module docstring. Arrays are numpy.

  Raises:
    ValueError: for a malformed block (see ``block.validate``), an empty
      list, or a list mixing op sets or ``t_max``.
  """
  opset, op, pred, length, _ = _host_arrays(blocks)
  num_graphs, t_max = op.shape
  node_ops, senders, receivers, slots = [], [], [], []
  n_node = np.zeros(num_graphs, np.int32)
  n_edge = np.zeros(num_graphs, np.int32)
  offset = 0
  for b in range(num_graphs):
    node_ops.append(_node_op(opset, op[b], length[b]))
    s, r, slot = _edges(opset, op[b], pred[b], length[b])
    senders.append(s + offset)
    receivers.append(r + offset)
    slots.append(slot)
    n_node[b] = node_ops[-1].shape[0]
    n_edge[b] = s.shape[0]
    offset += n_node[b]
  node_op = np.concatenate(node_ops)
  graph = jraph.GraphsTuple(
      nodes={"op": node_op, "onehot": _onehot(opset, node_op)},
      edges={"slot": np.concatenate(slots)},
      senders=np.concatenate(senders), receivers=np.concatenate(receivers),
      n_node=n_node, n_edge=n_edge,
      globals={"length": length.astype(np.int32),
               "t_max": np.full(num_graphs, t_max, np.int32)})
  n_node_pad, n_edge_pad, n_graph_pad = padded_sizes(opset, t_max, num_graphs)
  padded = jraph.pad_with_graphs(graph, n_node_pad, n_edge_pad, n_graph_pad)
  # pad_with_graphs offsets senders and receivers by an int64 cumsum.
  return padded._replace(senders=padded.senders.astype(np.int32),
                         receivers=padded.receivers.astype(np.int32))


def _field(tree, name: str, where: str) -> np.ndarray:
  if not isinstance(tree, dict) or name not in tree:
    raise ValueError(f"graph {where} must be a dict with a {name!r} entry, as "
                     f"written by to_graphs_tuple; got {type(tree).__name__}"
                     + (f" with keys {sorted(tree)}" if isinstance(tree, dict) else ""))
  return np.asarray(tree[name])


def from_graphs_tuple(graph: jraph.GraphsTuple, opset: OpSet = BLOCK_OPS) -> Block:
  """The block(s) of a ``GraphsTuple`` made by :func:`to_graphs_tuple`.

  The exact inverse: op ids, preds in their stored slot order, length and
  ``t_max`` come back as they were. Graphs with ``globals["t_max"] == 0``
  are padding and are skipped, so a padded or an unpadded tuple both work.
  Returns a single block if the tuple holds one real graph, else a batch
  with one leading axis (a multi-axis batch comes back flattened).

  Raises:
    ValueError: if the tuple is not one this module writes for ``opset``:
      missing features, a graph whose node count is not
      ``num_inputs + length``, input nodes out of place, an op id outside
      the op set, an edge that is not pred -> layer of its own graph, a layer
      without exactly one edge per input slot, real graphs of different
      ``t_max``, or a block that fails ``block.validate``.
  """
  graph = jax.device_get(graph)
  node_op = _field(graph.nodes, "op", "nodes")
  onehot = np.asarray(graph.nodes["onehot"]) if "onehot" in graph.nodes else None
  edge_slot = _field(graph.edges, "slot", "edges")
  lengths = _field(graph.globals, "length", "globals").reshape(-1)
  t_maxes = _field(graph.globals, "t_max", "globals").reshape(-1)
  n_node = np.asarray(graph.n_node).reshape(-1)
  n_edge = np.asarray(graph.n_edge).reshape(-1)
  senders = np.asarray(graph.senders).reshape(-1)
  receivers = np.asarray(graph.receivers).reshape(-1)
  num_graphs = n_node.shape[0]
  if not (n_edge.shape[0] == lengths.shape[0] == t_maxes.shape[0] == num_graphs):
    raise ValueError(f"n_node, n_edge, globals length and t_max disagree on the "
                     f"number of graphs: {n_node.shape[0]}, {n_edge.shape[0]}, "
                     f"{lengths.shape[0]}, {t_maxes.shape[0]}")
  if node_op.shape[0] != n_node.sum() or (onehot is not None
                                          and onehot.shape[0] != n_node.sum()):
    raise ValueError(f"n_node sums to {n_node.sum()} but the node features have "
                     f"{node_op.shape[0]} rows")
  if not (edge_slot.shape[0] == senders.shape[0] == receivers.shape[0] == n_edge.sum()):
    raise ValueError(f"n_edge sums to {n_edge.sum()} but there are "
                     f"{senders.shape[0]} senders, {receivers.shape[0]} receivers "
                     f"and {edge_slot.shape[0]} edge slots")
  width = opset.num_ops + opset.num_inputs
  if onehot is not None and (onehot.ndim != 2 or onehot.shape[1] != width):
    raise ValueError(f"node onehot has shape {onehot.shape}, op set {opset.name!r} "
                     f"needs width num_ops + num_inputs = {width}; was the graph "
                     f"written for another op set?")
  real = np.flatnonzero(t_maxes > 0)
  if real.size == 0:
    raise ValueError("the graph holds no block (every graph has t_max 0, i.e. is padding)")
  t_max = int(t_maxes[real[0]])
  if np.any(t_maxes[real] != t_max):
    raise ValueError(f"real graphs have different t_max "
                     f"{sorted(set(t_maxes[real].tolist()))}; blocks of one batch "
                     f"share t_max")
  node_start = np.concatenate([[0], np.cumsum(n_node)[:-1]])
  edge_start = np.concatenate([[0], np.cumsum(n_edge)[:-1]])
  num_inputs = opset.num_inputs
  ops = np.full((real.size, t_max), opset.pad_id, np.int32)
  preds = np.zeros((real.size, t_max, 2), np.int32)
  for i, g in enumerate(real):
    n = int(lengths[g])
    where = f"graph {g}"
    if not 1 <= n <= t_max:
      raise ValueError(f"{where}: length {n} is out of range 1..t_max={t_max}")
    if n_node[g] != num_inputs + n:
      raise ValueError(f"{where} has {n_node[g]} nodes, but a block of length {n} "
                       f"in op set {opset.name!r} has num_inputs + length = "
                       f"{num_inputs + n}")
    nodes = slice(node_start[g], node_start[g] + n_node[g])
    g_op = node_op[nodes].astype(np.int64)
    if np.any(g_op[:num_inputs] != -1 - np.arange(num_inputs)):
      raise ValueError(f"{where}: the first {num_inputs} nodes must be the input "
                       f"nodes (op -1 - slot), got ops {g_op[:num_inputs].tolist()}")
    layer_op = g_op[num_inputs:]
    if np.any((layer_op < 0) | (layer_op >= opset.num_ops)):
      raise ValueError(f"{where}: layer op ids {layer_op.tolist()} are not all real "
                       f"ops of op set {opset.name!r} (0..{opset.num_ops - 1})")
    if onehot is not None and not np.array_equal(onehot[nodes],
                                                 _onehot(opset, g_op.astype(np.int32))):
      raise ValueError(f"{where}: node onehot does not match node op")
    edges = slice(edge_start[g], edge_start[g] + n_edge[g])
    s = senders[edges].astype(np.int64) - node_start[g]
    r = receivers[edges].astype(np.int64) - node_start[g]
    slot = edge_slot[edges].astype(np.int64)
    if np.any((s < 0) | (s >= n_node[g]) | (r < num_inputs) | (r >= n_node[g])):
      raise ValueError(f"{where}: every edge must run from a node of the graph to "
                       f"one of its layer nodes")
    if np.any((slot < 0) | (slot > 1)):
      raise ValueError(f"{where}: edge slots must be 0 or 1, got "
                       f"{sorted(set(slot.tolist()))}")
    layer = r - num_inputs
    arity = opset.arity_table[layer_op]
    count = np.zeros((n, 2), np.int64)
    np.add.at(count, (layer, slot), 1)
    expected = (np.arange(2)[None, :] < arity[:, None]).astype(np.int64)
    if not np.array_equal(count, expected):
      bad = int(np.flatnonzero(np.any(count != expected, axis=1))[0]) + 1
      raise ValueError(f"{where}: layer {bad} ({opset.names[layer_op[bad - 1]]}) "
                       f"has edges on slots {np.repeat([0, 1], count[bad - 1]).tolist()}, "
                       f"expected one edge per input slot 0..{arity[bad - 1] - 1}")
    ops[i, :n] = layer_op
    preds[i, layer, slot] = s
  if real.size == 1:
    block = Block(jnp.asarray(ops[0]), jnp.asarray(preds[0]),
                  jnp.asarray(lengths[real[0]], jnp.int32), opset)
  else:
    block = Block(jnp.asarray(ops), jnp.asarray(preds),
                  jnp.asarray(lengths[real], jnp.int32), opset)
  validate(block)
  return block


# -- canonical hash ----------------------------------------------------------


def _colour_labels(opset: OpSet) -> list[str]:
  """Every colour class label the hash graph of ``opset`` can use, sorted."""
  return sorted([f"input:{i}" for i in range(opset.num_inputs)]
                + [f"op:{spec.name}" for spec in opset.ops]
                + ["output", "slot:0", "slot:1"])


def _opset_description(opset: OpSet) -> dict:
  return {"name": opset.name, "num_inputs": opset.num_inputs,
          "ops": [[s.name, s.kind, s.kernel, s.arity, s.commutative, s.dilation]
                  for s in opset.ops]}


def hash_graph(opset: OpSet, op: np.ndarray, pred: np.ndarray, length: int
               ) -> tuple[int, dict[int, list[int]], list[str]]:
  """The vertex-coloured digraph :func:`canonical_hash` canonicalises.

  Returns ``(num_vertices, adjacency, colour)``: vertices ``0 ..
  num_inputs - 1`` are the inputs, then the layers in order, then the
  output vertex, then one slot vertex per input edge of each
  non-commutative two-input layer; ``adjacency[u]`` lists the heads of the
  edges leaving ``u``; ``colour[v]`` is the colour label of ``v``.
  """
  n = int(length)
  num_inputs = opset.num_inputs
  output = num_inputs + n
  colour = [f"input:{i}" for i in range(num_inputs)]
  colour += [f"op:{opset.ops[int(o)].name}" for o in op[:n]]
  colour.append("output")
  adjacency: dict[int, list[int]] = {v: [] for v in range(output + 1)}
  has_successor = np.zeros(output, bool)
  for i in range(n):
    v = num_inputs + i
    spec = opset.ops[int(op[i])]
    for slot in range(spec.arity):
      p = int(pred[i, slot])
      has_successor[p] = True
      if spec.arity == 2 and not spec.commutative:
        mid = len(colour)
        colour.append(f"slot:{slot}")
        adjacency[mid] = [v]
        adjacency[p].append(mid)
      else:
        adjacency[p].append(v)
  for v in range(num_inputs, output):
    if not has_successor[v]:
      adjacency[v].append(output)
  return len(colour), adjacency, colour


def _hash_one(opset: OpSet, op: np.ndarray, pred: np.ndarray, length: int) -> str:
  num_vertices, adjacency, colour = hash_graph(opset, op, pred, length)
  labels = _colour_labels(opset)
  classes = {label: set() for label in labels}
  for v, label in enumerate(colour):
    classes[label].add(v)
  g = pynauty.Graph(num_vertices, directed=True,
                    adjacency_dict={u: vs for u, vs in adjacency.items() if vs},
                    vertex_coloring=[classes[label] for label in labels
                                     if classes[label]])
  lab = pynauty.canon_label(g)  # lab[i]: the vertex placed at canonical position i
  position = np.empty(num_vertices, np.int64)
  position[np.asarray(lab, np.int64)] = np.arange(num_vertices)
  edges = sorted((int(position[u]), int(position[v]))
                 for u, vs in adjacency.items() for v in vs)
  payload = json.dumps({
      "version": HASH_VERSION,
      "opset": _opset_description(opset),
      "classes": [[label, len(classes[label])] for label in labels],
      "edges": edges,
  }, separators=(",", ":"))
  return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def canonical_hash(blocks) -> str | list[str]:
  """SHA-256 hex digest of a block's DAG up to isomorphism.

  Equal for two blocks exactly when their coloured DAGs (see the module
  docstring) are isomorphic, i.e. they compute the same thing up to a
  relabelling of layers; blocks of different op sets always differ.
  Independent of ``t_max`` and of the process (no Python ``hash``).

  Args:
    blocks: a single block (returns a ``str``), or a batched block or list of
      blocks (returns a list of ``str``, a multi-axis batch flattened in C
      order).

  Raises:
    ValueError: for a malformed block (see ``block.validate``).
  """
  opset, op, pred, length, single = _host_arrays(blocks)
  hashes = [_hash_one(opset, op[b], pred[b], length[b]) for b in range(op.shape[0])]
  return hashes[0] if single else hashes
