"""Tests of the op set, the layer-code table and the block pytree."""

import collections
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax.spaces import block as block_lib
from irlas_jax.spaces import experts
from irlas_jax.spaces.block import Block, from_layers, to_layers, validate
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet, OpSpec

RESNET = [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("add", 2, 0)]


def test_block_opset_names_and_reserved_ids():
  assert BLOCK_OPS.names[:BLOCK_OPS.num_ops] == (
      "dwconv1x1", "dwconv3x3", "dwconv5x5", "maxpool3x3", "maxpool5x5",
      "avgpool3x3", "avgpool5x5", "identity", "add", "concat")
  assert BLOCK_OPS.names[BLOCK_OPS.terminal_id] == "terminal"
  assert BLOCK_OPS.names[BLOCK_OPS.pad_id] == "pad"
  assert BLOCK_OPS.kinds == ("dwconv", "maxpool", "avgpool", "identity", "add", "concat")
  assert BLOCK_OPS.kernel_sizes == (1, 3, 5)
  assert [op.arity for op in BLOCK_OPS.ops] == [1] * 8 + [2, 2]
  with pytest.raises(ValueError, match="unknown op 'conv7x7'.*dwconv1x1"):
    BLOCK_OPS.op_id("conv7x7")


def test_opset_rejects_bad_definitions():
  with pytest.raises(ValueError, match="duplicate"):
    OpSet("x", (OpSpec("a", "a"), OpSpec("a", "a")))
  with pytest.raises(ValueError, match="reserved"):
    OpSet("x", (OpSpec("pad", "a"),))
  with pytest.raises(ValueError, match="arity"):
    OpSpec("a", "a", arity=3)


def _count_by_brute_force(opset, t):
  """Layers valid at index t, enumerated directly from the definition."""
  node = opset.node(t)
  layers = set()
  for op_id, spec in enumerate(opset.ops):
    for p1, p2 in itertools.product(range(node), repeat=2):
      if spec.arity == 1 and p2 == 0:
        layers.add((op_id, p1, 0))
      elif spec.arity == 2 and p1 != p2 and (p1 > p2 or not spec.commutative):
        layers.add((op_id, p1, p2))
  return layers


@pytest.mark.parametrize("opset", [
    BLOCK_OPS,
    OpSet("ordered2", (OpSpec("conv", "conv", 3), OpSpec("sub", "sub", arity=2,
                                                          commutative=False)),
          num_inputs=2),
])
def test_layer_codes_prefix_property(opset):
  t_max = 6
  codes = layer_codes(opset, t_max)
  all_codes = {(int(o), int(p[0]), int(p[1])) for o, p in zip(codes.op, codes.pred)}
  assert len(all_codes) == codes.size
  for t in range(1, t_max + 1):
    prefix = {(int(codes.op[c]), int(codes.pred[c, 0]), int(codes.pred[c, 1]))
              for c in range(codes.count[t])}
    assert prefix == _count_by_brute_force(opset, t)
  # The index table inverts the code table.
  assert np.array_equal(codes.index[codes.op, codes.pred[:, 0], codes.pred[:, 1]],
                        np.arange(codes.size))
  assert (codes.index >= 0).sum() == codes.size


def test_block_space_counts_match_the_closed_form():
  codes = layer_codes(BLOCK_OPS, 24)
  t = np.arange(25)
  np.testing.assert_array_equal(codes.count, 8 * t + t * (t - 1))
  assert codes.size == 744


def test_from_layers_round_trip_and_canonical_order():
  block = from_layers([("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("add", 0, 2)])
  assert to_layers(block) == RESNET  # add stored as (2, 0)
  assert block.op.dtype == jnp.int32 and block.op.shape == (24,)
  assert block.pred.shape == (24, 2) and int(block.length) == 3
  assert np.all(np.asarray(block.op[3:]) == BLOCK_OPS.pad_id)
  # (op, pred) two-tuples are one-input layers.
  assert to_layers(from_layers([("maxpool3x3", 0), ("identity", 1)], t_max=4)) == [
      ("maxpool3x3", 0, 0), ("identity", 1, 0)]


@pytest.mark.parametrize("layers, t_max, message", [
    ([], 24, "length 0 is out of range"),
    ([("identity", 0, 0)] * 5, 4, "length 5 is out of range"),
    ([("identity", 0, 0), ("conv7x7", 1, 0)], 24, "layer 2: unknown op 'conv7x7'"),
    ([("identity", 0, 0), ("identity", 2, 0)], 24, r"layer 2 \(identity\): pred1=2 is not an earlier node"),
    ([("identity", 0, 0), ("add", 1, 5)], 24, r"layer 2 \(add\): pred1=5 is not an earlier node"),
    ([("identity", -1, 0)], 24, "pred1=-1 is not an earlier node"),
    ([("identity", 0, 0), ("dwconv3x3", 1, 1)], 24, r"layer 2 \(dwconv3x3\): a one-input op must have pred2=0"),
    ([("identity", 0, 0), ("add", 1, 1)], 24, r"layer 2 \(add\): a two-input op was given one input"),
    ([("identity", 0, 0), ("concat", 1)], 24, r"layer 2 \(concat\): a two-input op was given one input"),
    ([("add", 0, 0)], 24, r"layer 1 \(add\): a two-input op was given one input"),
    ([("identity", 0, 0), "add"], 24, "layer 2: expected"),
])
def test_from_layers_rejects_malformed_blocks(layers, t_max, message):
  with pytest.raises(ValueError, match=message):
    from_layers(layers, t_max=t_max)


def test_pred2_zero_means_the_input_for_two_input_ops():
  # The op's arity tells "no second input" from "the block input".
  block = from_layers([("identity", 0, 0), ("concat", 1, 0)])
  assert to_layers(block) == [("identity", 0, 0), ("concat", 1, 0)]
  assert int(BLOCK_OPS.arity_table[block.op[1]]) == 2


def _raw(op, pred, length, t_max=4):
  op = np.asarray(list(op) + [BLOCK_OPS.pad_id] * (t_max - len(op)), np.int32)
  pred = np.asarray(list(pred) + [(0, 0)] * (t_max - len(pred)), np.int32)
  return Block(jnp.asarray(op), jnp.asarray(pred), jnp.asarray(length, jnp.int32))


@pytest.mark.parametrize("block, message", [
    (_raw([7], [(0, 0)], 0), "length 0"),
    (_raw([7], [(0, 0)], 5), "length 5"),
    (_raw([7, 42], [(0, 0), (1, 0)], 2), "layer 2: unknown op id 42"),
    (_raw([7, BLOCK_OPS.terminal_id], [(0, 0), (1, 0)], 2), "layer 2: unknown op id 10"),
    (_raw([7, 8], [(0, 0), (0, 1)], 2), "not in canonical order"),
    (_raw([7, 7], [(0, 0), (1, 0)], 1), "layer 2: past the block length 1 but not padding"),
    (_raw([7, 7], [(0, 0), (2, 0)], 2), "layer 2 .*pred1=2 is not an earlier node"),
])
def test_validate_names_the_layer(block, message):
  with pytest.raises(ValueError, match=message):
    validate(block)
  assert not bool(block_lib.is_valid(block))


def test_validate_names_the_block_in_a_batch():
  good = from_layers(RESNET, t_max=4)
  bad = _raw([7, 7], [(0, 0), (1, 1)], 2)
  with pytest.raises(ValueError, match=r"block 1: layer 2 \(identity\)"):
    validate(block_lib.stack_blocks([good, bad]))


def test_stack_and_index():
  blocks = [experts.get(n, t_max=8) for n in ("resnet", "resnet_modify1", "densenet")]
  stacked = block_lib.stack_blocks(blocks)
  assert stacked.batch_shape == (3,) and len(stacked) == 3
  for i, b in enumerate(block_lib.unstack_blocks(stacked)):
    assert to_layers(b) == to_layers(blocks[i])
  with pytest.raises(ValueError, match="cannot be stacked"):
    block_lib.stack_blocks([experts.get("resnet", 8), experts.get("resnet", 6)])
  with pytest.raises(ValueError, match="one block"):
    to_layers(stacked)


def test_block_passes_through_jit_and_vmap_with_its_opset():
  opset = OpSet("tiny", (OpSpec("conv", "conv", 3), OpSpec("add", "add", arity=2)))
  block = from_layers([("conv", 0, 0), ("add", 1, 0)], t_max=3, opset=opset)
  out = jax.jit(lambda b: b)(block)
  assert out.opset is opset or out.opset == opset
  assert to_layers(out) == [("conv", 0, 0), ("add", 1, 0)]


def test_sample_uniform_is_valid_and_uniform():
  t_max = 4
  blocks = block_lib.sample_uniform(jax.random.key(0), 4000, t_max)
  validate(blocks)
  assert bool(jnp.all(jax.vmap(block_lib.is_valid)(blocks)))
  lengths = np.asarray(blocks.length)
  # Length uniform in 1..t_max: each of 4 values near 1000 (binomial sd ~27).
  np.testing.assert_allclose(np.bincount(lengths, minlength=t_max + 1)[1:], 1000, atol=120)
  # Layer 2 (present in blocks of length >= 2) is uniform over its 18 layers.
  codes = layer_codes(BLOCK_OPS, t_max)
  present = lengths >= 2
  layer2 = codes.encode(blocks.op[:, 1], blocks.pred[:, 1])[present]
  counts = collections.Counter(np.asarray(layer2).tolist())
  assert set(counts) == set(range(codes.count[2]))
  expected = present.sum() / codes.count[2]
  chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
  assert chi2 < 45  # chi-square with 17 dof: P(chi2 > 45) < 1e-3
  # Deterministic in the key; different keys differ.
  again = block_lib.sample_uniform(jax.random.key(0), 4000, t_max)
  assert np.array_equal(np.asarray(again.op), np.asarray(blocks.op))
  other = block_lib.sample_uniform(jax.random.key(1), 4000, t_max)
  assert not np.array_equal(np.asarray(other.op), np.asarray(blocks.op))


def test_is_valid_agrees_with_validate_on_corrupted_blocks():
  rng = np.random.default_rng(0)
  blocks = block_lib.sample_uniform(jax.random.key(3), 200, 5)
  op, pred, length = (np.array(x) for x in (blocks.op, blocks.pred, blocks.length))
  for i in range(200):
    o, p, n = op[i].copy(), pred[i].copy(), length[i].copy()
    which = rng.integers(4)
    if which == 0:
      o[rng.integers(5)] = rng.integers(12)
    elif which == 1:
      p[rng.integers(5), rng.integers(2)] = rng.integers(6)
    elif which == 2:
      n = rng.integers(0, 7)
    b = Block(jnp.asarray(o), jnp.asarray(p), jnp.asarray(n, jnp.int32))
    try:
      validate(b)
      ok = True
    except ValueError:
      ok = False
    assert bool(block_lib.is_valid(b)) == ok, (o, p, n)
