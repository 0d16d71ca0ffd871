"""Tests of irlas_jax.spaces.graph: GraphsTuple round trip and canonical hash."""

import os
import subprocess
import sys

import jax
import networkx as nx
import numpy as np
import pytest

from irlas_jax.spaces import experts
from irlas_jax.spaces import graph
from irlas_jax.spaces.block import Block
from irlas_jax.spaces.block import from_layers
from irlas_jax.spaces.block import sample_uniform
from irlas_jax.spaces.block import stack_blocks
from irlas_jax.spaces.block import to_layers
from irlas_jax.spaces.opset import BLOCK_OPS
from irlas_jax.spaces.opset import OpSet
from irlas_jax.spaces.opset import OpSpec

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small space with a non-commutative op and two input slots.
SUB_OPS = OpSet(
    name="sub_test",
    ops=(OpSpec("conv", "conv", kernel=3), OpSpec("pool", "pool", kernel=3),
         OpSpec("add", "add", arity=2),
         OpSpec("sub", "sub", arity=2, commutative=False)),
    num_inputs=1,
)
TWO_INPUT_OPS = OpSet(name="two_input_test", ops=SUB_OPS.ops, num_inputs=2)


def assert_blocks_equal(a: Block, b: Block):
  assert a.opset == b.opset
  for name in ("op", "pred", "length"):
    x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
    assert x.dtype == y.dtype and x.shape == y.shape, (name, x.shape, y.shape)
    np.testing.assert_array_equal(x, y, err_msg=name)


def round_trip(blocks):
  return graph.from_graphs_tuple(graph.to_graphs_tuple(blocks),
                                 opset=(blocks[0] if isinstance(blocks, list)
                                        else blocks).opset)


def random_layers(rng, length, opset, names):
  """A random valid layer list of ``length`` layers drawn from ``names``."""
  layers = []
  for t in range(1, length + 1):
    node = opset.node(t)
    choices = [n for n in names
               if opset.ops[opset.op_id(n)].arity == 1 or node >= 2]
    name = choices[rng.integers(len(choices))]
    if opset.ops[opset.op_id(name)].arity == 1:
      layers.append((name, int(rng.integers(node)), 0))
    else:
      p1, p2 = rng.choice(node, size=2, replace=False)
      layers.append((name, int(p1), int(p2)))
  return layers


def relabel(block: Block, rng) -> Block:
  """The block with its layers in a random order consistent with the DAG."""
  opset, layers = block.opset, to_layers(block)
  num_inputs = opset.num_inputs
  inputs_of = []
  for name, p1, p2 in layers:
    preds = (p1, p2) if opset.ops[opset.op_id(name)].arity == 2 else (p1,)
    inputs_of.append({p - num_inputs for p in preds if p >= num_inputs})
  order, placed = [], set()
  while len(order) < len(layers):
    ready = [i for i in range(len(layers))
             if i not in placed and inputs_of[i] <= placed]
    i = ready[rng.integers(len(ready))]
    order.append(i)
    placed.add(i)
  new_node = {num_inputs + i: num_inputs + k for k, i in enumerate(order)}
  new_node.update({i: i for i in range(num_inputs)})
  new_layers = []
  for i in order:
    name, p1, p2 = layers[i]
    arity = opset.ops[opset.op_id(name)].arity
    new_layers.append((name, new_node[p1], new_node[p2] if arity == 2 else 0))
  return from_layers(new_layers, t_max=block.t_max, opset=opset)


def nx_dag(block: Block) -> nx.DiGraph:
  """The labelled DAG of a block, built independently of graph.py.

  Node labels: input slot, op name or output; edge label: the input slot for
  non-commutative ops, None otherwise (unordered inputs, output concat).
  """
  opset = block.opset
  g = nx.DiGraph()
  for i in range(opset.num_inputs):
    g.add_node(i, label=("input", i))
  layers = to_layers(block)
  for t, (name, p1, p2) in enumerate(layers, start=1):
    spec = opset.ops[opset.op_id(name)]
    v = opset.node(t)
    g.add_node(v, label=("op", name))
    preds = (p1, p2) if spec.arity == 2 else (p1,)
    for slot, p in enumerate(preds):
      g.add_edge(p, v, slot=slot if (spec.arity == 2 and not spec.commutative) else None)
  g.add_node("out", label=("output",))
  for t in range(1, len(layers) + 1):
    if g.out_degree(opset.node(t)) == 0:
      g.add_edge(opset.node(t), "out", slot=None)
  return g


def nx_isomorphic(a: Block, b: Block) -> bool:
  return nx.is_isomorphic(nx_dag(a), nx_dag(b),
                          node_match=lambda x, y: x["label"] == y["label"],
                          edge_match=lambda x, y: x["slot"] == y["slot"])


# -- GraphsTuple round trip -----------------------------------------------------


@pytest.mark.parametrize("name", experts.names("block"))
def test_round_trip_experts(name):
  block = experts.get(name, t_max=8)
  assert_blocks_equal(round_trip(block), block)


def test_round_trip_experts_batched_and_list():
  blocks = [experts.get(name, t_max=8) for name in experts.names("block")]
  batch = stack_blocks(blocks)
  assert_blocks_equal(round_trip(batch), batch)
  assert_blocks_equal(round_trip(blocks), batch)


def test_round_trip_random():
  blocks = sample_uniform(jax.random.key(0), 100, 8)
  assert_blocks_equal(round_trip(blocks), blocks)
  for i in range(0, 100, 10):
    assert_blocks_equal(round_trip(blocks[i]), blocks[i])
  # a batch of one comes back as a single block
  assert_blocks_equal(round_trip(blocks[:1]), blocks[0])


def test_graph_features():
  block = experts.get("resnet", t_max=6)  # dw3(0) dw3(1) add(2, 0)
  g = graph.to_graphs_tuple(block)
  dw3, add = BLOCK_OPS.op_id("dwconv3x3"), BLOCK_OPS.op_id("add")
  np.testing.assert_array_equal(g.n_node, [4, 4])  # padded to 1 + 6 + 1
  np.testing.assert_array_equal(g.n_edge, [4, 8])
  np.testing.assert_array_equal(g.nodes["op"][:4], [-1, dw3, dw3, add])
  np.testing.assert_array_equal(g.nodes["onehot"][:4].argmax(-1),
                                [BLOCK_OPS.num_ops, dw3, dw3, add])
  np.testing.assert_array_equal(g.nodes["onehot"].sum(-1), [1] * 4 + [0] * 4)
  np.testing.assert_array_equal(g.senders[:4], [0, 1, 2, 0])
  np.testing.assert_array_equal(g.receivers[:4], [1, 2, 3, 3])
  np.testing.assert_array_equal(g.edges["slot"][:4], [0, 0, 0, 1])
  np.testing.assert_array_equal(g.globals["length"], [3, 0])
  np.testing.assert_array_equal(g.globals["t_max"], [6, 0])
  for x in (g.nodes["op"], g.edges["slot"], g.senders, g.receivers, g.n_node,
            g.n_edge, g.globals["length"], g.globals["t_max"]):
    assert x.dtype == np.int32
  assert g.nodes["onehot"].dtype == np.float32


def test_padded_shapes_do_not_depend_on_the_block():
  t_max = 8
  short = from_layers([("dwconv3x3", 0, 0)], t_max=t_max)
  long_ = from_layers([("dwconv3x3", 0, 0)] + [("add", t, t - 1) for t in range(1, t_max)],
                      t_max=t_max)  # length t_max, 2 * t_max - 1 edges
  wide = from_layers([("identity", 0, 0)] + [("concat", t, t - 1) for t in range(1, t_max)],
                     t_max=t_max)
  shapes = [jax.tree_util.tree_map(np.shape, graph.to_graphs_tuple(b))
            for b in (short, long_, wide, experts.get("resnext", t_max=t_max))]
  assert all(s == shapes[0] for s in shapes)
  n_node, n_edge, n_graph = graph.padded_sizes(BLOCK_OPS, t_max, 1)
  assert (n_node, n_edge, n_graph) == (BLOCK_OPS.num_inputs + t_max + 1, 2 * t_max, 2)
  assert shapes[0].nodes["onehot"] == (n_node, BLOCK_OPS.num_ops + 1)
  assert shapes[0].senders == (n_edge,)
  assert shapes[0].n_node == (n_graph,)
  batch = stack_blocks([short, long_, wide])
  g = graph.to_graphs_tuple(batch)
  assert g.nodes["op"].shape[0] == graph.padded_sizes(BLOCK_OPS, t_max, 3)[0]
  assert g.senders.shape[0] == 3 * 2 * t_max
  assert g.n_node.shape[0] == 4


def test_two_input_opset_round_trip():
  blocks = sample_uniform(jax.random.key(1), 30, 6, opset=TWO_INPUT_OPS)
  assert_blocks_equal(round_trip(blocks), blocks)
  block = from_layers([("conv", 1, 0), ("sub", 0, 2), ("add", 3, 1)], t_max=6,
                      opset=TWO_INPUT_OPS)
  g = graph.to_graphs_tuple(block)
  np.testing.assert_array_equal(g.nodes["op"][:5], [-1, -2, 0, 3, 2])
  np.testing.assert_array_equal(g.nodes["onehot"][:2, 4:], np.eye(2))
  assert_blocks_equal(graph.from_graphs_tuple(g, TWO_INPUT_OPS), block)
  # every edge slot used: the padding graph gets no edges
  full = from_layers([("add", 1, 0)] + [("sub", t, t + 1) for t in range(1, 6)],
                     t_max=6, opset=TWO_INPUT_OPS)
  g = graph.to_graphs_tuple(full)
  np.testing.assert_array_equal(g.n_edge, [12, 0])
  assert_blocks_equal(graph.from_graphs_tuple(g, TWO_INPUT_OPS), full)


def test_from_graphs_tuple_errors():
  block = experts.get("resnet", t_max=6)
  g = graph.to_graphs_tuple(block)
  # one node too many in the real graph (taken from the padding graph)
  bad = g._replace(n_node=g.n_node + np.array([1, -1], np.int32))
  with pytest.raises(ValueError, match="nodes"):
    graph.from_graphs_tuple(bad)
  with pytest.raises(ValueError, match="op set"):
    graph.from_graphs_tuple(g, opset=TWO_INPUT_OPS)
  bad_edges = g._replace(edges={"slot": np.where(np.arange(len(g.senders)) == 3, 0,
                                                 g.edges["slot"]).astype(np.int32)})
  with pytest.raises(ValueError, match="layer 3"):
    graph.from_graphs_tuple(bad_edges)
  with pytest.raises(ValueError, match="'op'"):
    graph.from_graphs_tuple(g._replace(nodes={"x": g.nodes["op"]}))
  padding_only = g._replace(globals={"length": np.zeros(2, np.int32),
                                     "t_max": np.zeros(2, np.int32)})
  with pytest.raises(ValueError, match="no block"):
    graph.from_graphs_tuple(padding_only)
  with pytest.raises(ValueError):
    graph.to_graphs_tuple([])
  with pytest.raises(ValueError, match="t_max"):
    graph.to_graphs_tuple([experts.get("resnet", t_max=6), experts.get("resnet", t_max=8)])


# -- canonical hash: hand-made cases --------------------------------------------


def h(layers, t_max=8, opset=BLOCK_OPS):
  return graph.canonical_hash(from_layers(layers, t_max=t_max, opset=opset))


def test_hash_format_and_batches():
  block = experts.get("resnet", t_max=6)
  digest = graph.canonical_hash(block)
  assert isinstance(digest, str) and len(digest) == 64
  int(digest, 16)
  batch = stack_blocks([experts.get(n, t_max=8) for n in experts.names("block")])
  digests = graph.canonical_hash(batch)
  assert digests == [graph.canonical_hash(experts.get(n, t_max=8)) for n in experts.names("block")]
  assert graph.canonical_hash([batch[0], batch[1]]) == digests[:2]
  assert len(set(digests)) == len(digests)  # the experts are all different


def test_hash_relabelled_pairs_equal():
  assert h([("dwconv3x3", 0, 0), ("maxpool3x3", 0, 0), ("add", 2, 1)]) == \
      h([("maxpool3x3", 0, 0), ("dwconv3x3", 0, 0), ("add", 2, 1)])
  # two branches (dw1 -> dw3, and maxpool -> dw5), merged by concat
  sequential = [("dwconv1x1", 0, 0), ("dwconv3x3", 1, 0),
                ("maxpool3x3", 0, 0), ("dwconv5x5", 3, 0), ("concat", 4, 2)]
  interleaved = [("maxpool3x3", 0, 0), ("dwconv1x1", 0, 0), ("dwconv5x5", 1, 0),
                 ("dwconv3x3", 2, 0), ("concat", 4, 3)]
  assert h(sequential) == h(interleaved)
  # the output concat is unordered: two sinks listed in either order
  assert h([("dwconv3x3", 0, 0), ("avgpool3x3", 0, 0)]) == \
      h([("avgpool3x3", 0, 0), ("dwconv3x3", 0, 0)])
  # identical twins: swapping them is an automorphism
  assert h([("dwconv3x3", 0, 0), ("dwconv3x3", 0, 0), ("dwconv5x5", 1, 0)]) == \
      h([("dwconv3x3", 0, 0), ("dwconv3x3", 0, 0), ("dwconv5x5", 2, 0)])


@pytest.mark.parametrize("name", experts.names("block"))
def test_hash_ignores_t_max(name):
  layers = experts.layers(name)
  digests = {graph.canonical_hash(from_layers(layers, t_max=t)) for t in
             (len(layers), 6 if len(layers) <= 6 else 7, 24)}
  assert len(digests) == 1
  assert graph.canonical_hash(experts.get(name, t_max=24)) in digests


def test_hash_near_misses_differ():
  base = [("dwconv3x3", 0, 0), ("maxpool3x3", 0, 0), ("add", 2, 1)]
  misses = [
      [("dwconv5x5", 0, 0), ("maxpool3x3", 0, 0), ("add", 2, 1)],   # other op
      [("dwconv3x3", 0, 0), ("maxpool3x3", 0, 0), ("concat", 2, 1)],  # other merge
      [("dwconv3x3", 0, 0), ("maxpool3x3", 1, 0), ("add", 2, 1)],   # chain, not fork
      [("dwconv3x3", 0, 0), ("maxpool3x3", 0, 0), ("add", 2, 0)],   # other wiring
      [("dwconv3x3", 0, 0), ("maxpool3x3", 0, 0)],                  # no merge
  ]
  digests = [h(base)] + [h(m) for m in misses]
  assert len(set(digests)) == len(digests)
  # same expression tree, different sharing: must differ
  shared = [("dwconv3x3", 0, 0), ("dwconv5x5", 1, 0), ("maxpool3x3", 1, 0),
            ("add", 3, 2)]
  unshared = [("dwconv3x3", 0, 0), ("dwconv3x3", 0, 0), ("dwconv5x5", 1, 0),
              ("maxpool3x3", 2, 0), ("add", 4, 3)]
  assert h(shared) != h(unshared)
  # same nodes and labels, one edge moved between equal-looking layers
  a = [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("maxpool3x3", 2, 0),
       ("add", 3, 1)]
  b = [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("maxpool3x3", 1, 0),
       ("add", 3, 2)]
  assert h(a) != h(b)


def test_hash_non_commutative_order_matters():
  assert h([("conv", 0, 0), ("sub", 1, 0)], opset=SUB_OPS) != \
      h([("conv", 0, 0), ("sub", 0, 1)], opset=SUB_OPS)
  # with add the two orders are one block
  assert h([("conv", 0, 0), ("add", 1, 0)], opset=SUB_OPS) == \
      h([("conv", 0, 0), ("add", 0, 1)], opset=SUB_OPS)
  # pool - conv, written three ways: listing order and slot order
  pool_minus_conv_1 = [("conv", 0, 0), ("pool", 0, 0), ("sub", 2, 1)]
  conv_minus_pool = [("pool", 0, 0), ("conv", 0, 0), ("sub", 2, 1)]
  pool_minus_conv_2 = [("pool", 0, 0), ("conv", 0, 0), ("sub", 1, 2)]
  assert h(pool_minus_conv_1, opset=SUB_OPS) == h(pool_minus_conv_2, opset=SUB_OPS)
  assert h(pool_minus_conv_1, opset=SUB_OPS) != h(conv_minus_pool, opset=SUB_OPS)
  # input slots are not interchangeable
  assert h([("conv", 0, 0)], opset=TWO_INPUT_OPS) != \
      h([("conv", 1, 0)], opset=TWO_INPUT_OPS)


def test_hash_differs_across_op_sets():
  renamed = OpSet(name="block_copy", ops=BLOCK_OPS.ops)
  two_inputs = OpSet(name=BLOCK_OPS.name, ops=BLOCK_OPS.ops, num_inputs=2)
  layers = experts.layers("resnet")
  digests = {h(layers), h(layers, opset=renamed), h(layers, opset=two_inputs)}
  assert len(digests) == 3
  conv_layers = [("conv", 0, 0), ("conv", 1, 0), ("add", 2, 0)]
  assert h(conv_layers, opset=SUB_OPS) != h(conv_layers, opset=TWO_INPUT_OPS)


def test_hash_same_in_fresh_process():
  code = ("from irlas_jax.spaces import experts, graph; "
          "print(graph.canonical_hash(experts.get('resnet')))")
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONHASHSEED="12345")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True, timeout=120, check=True)
  assert out.stdout.strip().splitlines()[-1] == \
      graph.canonical_hash(experts.get("resnet"))


# -- canonical hash against independent references ---------------------------------


def test_hash_invariant_under_random_topological_relabelling():
  rng = np.random.default_rng(0)
  blocks = sample_uniform(jax.random.key(2), 100, 8)
  changed = 0
  for i in range(len(blocks)):
    block = blocks[i]
    other = relabel(block, rng)
    changed += to_layers(other) != to_layers(block)
    assert graph.canonical_hash(other) == graph.canonical_hash(block), to_layers(block)
  assert changed > 30
  blocks = sample_uniform(jax.random.key(3), 40, 6, opset=TWO_INPUT_OPS)
  for i in range(len(blocks)):
    assert graph.canonical_hash(relabel(blocks[i], rng)) == \
        graph.canonical_hash(blocks[i])


@pytest.mark.parametrize("opset,names", [
    (BLOCK_OPS, ("dwconv3x3", "maxpool3x3", "add")),
    (SUB_OPS, ("conv", "sub", "add")),
])
def test_hash_equal_iff_networkx_isomorphic(opset, names):
  rng = np.random.default_rng(1)
  t_max = 4
  counts = {"iso_distinct": 0, "iso_same": 0, "non_iso": 0}
  for _ in range(200):
    a = from_layers(random_layers(rng, int(rng.integers(1, t_max + 1)), opset, names),
                    t_max=t_max, opset=opset)
    kind = rng.integers(3)
    if kind == 0:  # a relabelling: isomorphic by construction
      b = relabel(a, rng)
    elif kind == 1:  # same length: often isomorphic by chance, often not
      b = from_layers(random_layers(rng, int(a.length), opset, names),
                      t_max=t_max, opset=opset)
    else:
      b = from_layers(random_layers(rng, int(rng.integers(1, t_max + 1)), opset, names),
                      t_max=t_max, opset=opset)
    iso = nx_isomorphic(a, b)
    same_hash = graph.canonical_hash(a) == graph.canonical_hash(b)
    assert same_hash == iso, (to_layers(a), to_layers(b), iso)
    if not iso:
      counts["non_iso"] += 1
    elif to_layers(a) == to_layers(b):
      counts["iso_same"] += 1
    else:
      counts["iso_distinct"] += 1
  assert counts["iso_distinct"] > 5, counts
  assert counts["non_iso"] > 20, counts
