"""Tests of the DARTS cell space: genotype format, cell -> layers, the expert."""

import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax import spaces
from irlas_jax.spaces import darts
from irlas_jax.spaces import experts


def _random_genotype(rng, steps=4):
  cells = []
  for _ in range(2):
    cell = []
    for i in range(steps):
      inputs = rng.choice(i + 2, size=2, replace=False)
      for j in inputs:
        cell.append((darts.PRIMITIVES[rng.integers(1, 8)], int(j)))
    cells.append(cell)
  concat = tuple(range(2, steps + 2))
  return darts.Genotype(cells[0], concat, cells[1], concat)


def test_genotype_prints_in_darts_format_and_parses_back():
  text = ("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0)], "
          "normal_concat=range(2, 3), reduce=[('max_pool_3x3', 0), "
          "('dil_conv_5x5', 1)], reduce_concat=[2])")
  genotype = darts.Genotype.parse(text)
  assert genotype.normal == (("sep_conv_3x3", 1), ("skip_connect", 0))
  assert genotype.reduce_concat == (2,)
  # One-element concat prints as a list, a run as a range (DARTS' own style).
  assert str(genotype) == text.replace("range(2, 3)", "[2]")
  rng = np.random.default_rng(0)
  for _ in range(5):
    g = _random_genotype(rng)
    assert darts.Genotype.parse(str(g)) == g
    assert "normal_concat=range(2, 6)" in str(g)


@pytest.mark.parametrize("text, match", [
    ("Genotype(normal=[('conv', 0), ('skip_connect', 1)], normal_concat=[2], "
     "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])",
     r"Genotype.normal\[0\]: unknown op 'conv'"),
    ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 2)], normal_concat=[2], "
     "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])",
     r"Genotype.normal\[1\] \(node 2\): input 2 is not an earlier node"),
    ("Genotype(normal=[('skip_connect', 0)], normal_concat=[2], "
     "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])",
     "two \\(op, input\\) edges per node"),
    ("Genotype(normal=[('none', 0), ('skip_connect', 1)], normal_concat=[2], "
     "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])",
     "unknown op 'none'"),
    ("Genotype(normal=[], normal_concat=__import__('os'))", "not a literal"),
    ("print(1)", "expected 'Genotype"),
])
def test_bad_genotypes_raise_naming_the_field(text, match):
  with pytest.raises(ValueError, match=match):
    darts.Genotype.parse(text)


def test_cell_to_layers_by_hand():
  # DARTS_V2's normal cell, written out by hand from the module's rules:
  # node i: two edge layers (sorted by input, then op), then their add;
  # intermediate node i is block node 3i + 4; then the output concat chain.
  expected = [
      ("sep_conv_3x3", 0, 0), ("sep_conv_3x3", 1, 0), ("add", 3, 2),     # node 2 -> 4
      ("sep_conv_3x3", 0, 0), ("sep_conv_3x3", 1, 0), ("add", 6, 5),     # node 3 -> 7
      ("skip_connect", 0, 0), ("sep_conv_3x3", 1, 0), ("add", 9, 8),     # node 4 -> 10
      ("skip_connect", 0, 0), ("dil_conv_3x3", 4, 0), ("add", 12, 11),   # node 5 -> 13
      ("concat", 7, 4), ("concat", 14, 10), ("concat", 15, 13),
  ]
  assert darts.genotype_to_layers(darts.DARTS_V2, "normal") == expected
  normal, reduce = darts.genotype_blocks(darts.DARTS_V2)
  assert spaces.to_layers(normal) == expected
  assert normal.t_max == darts.T_MAX == 15 and normal.opset is darts.DARTS_OPS
  # Edge order inside a node does not matter.
  swapped = darts.Genotype([e for pair in zip(darts.DARTS_V2.normal[1::2],
                                              darts.DARTS_V2.normal[::2]) for e in pair],
                           range(2, 6), darts.DARTS_V2.reduce, range(2, 6))
  assert darts.genotype_to_layers(swapped) == expected


def test_cells_to_blocks_matches_the_host_conversion_under_jit_and_vmap():
  rng = np.random.default_rng(1)
  genotypes = [_random_genotype(rng) for _ in range(6)]
  ops = np.array([[darts.PRIMITIVES.index(o) for o, _ in g.normal] for g in genotypes])
  inputs = np.array([[j for _, j in g.normal] for g in genotypes])
  blocks = darts.cells_to_blocks(jnp.asarray(ops.reshape(6, 4, 2)),
                                 jnp.asarray(inputs.reshape(6, 4, 2)))
  assert blocks.batch_shape == (6,)
  spaces.validate(blocks)
  for g, block in zip(genotypes, spaces.unstack_blocks(blocks)):
    assert spaces.to_layers(block) == darts.genotype_to_layers(g)
  # Only the last concat has no successor: the block output is the cell output.
  pred = np.asarray(blocks.pred[0])
  used = set(pred[:, 0]) | set(pred[np.asarray(blocks.op[0]) >= darts.ADD_ID, 1])
  sinks = [t for t in range(1, 16) if t + 1 not in used]
  assert sinks == [15]


def test_resnet_expert_is_registered_as_the_space_default():
  assert experts.space_default("darts") == ("darts_resnet", 15)
  block = experts.get("darts_resnet", t_max=15)
  assert block.opset is darts.DARTS_OPS
  layers = spaces.to_layers(block)
  # y_i = sep_conv_3x3(y_{i-1}) + skip_connect(y_{i-2}); block nodes of
  # y_0 .. y_5: 0, 1, 4, 7, 10, 13.
  nodes = (0, 1, 4, 7, 10, 13)
  for i in range(4):
    assert layers[3 * i: 3 * i + 3] == [("skip_connect", nodes[i], 0),
                                        ("sep_conv_3x3", nodes[i + 1], 0),
                                        ("add", 3 * i + 3, 3 * i + 2)]
  assert len(layers) == 15 and [l[0] for l in layers[12:]] == ["concat"] * 3
  assert darts.genotype_blocks(darts.RESNET_GENOTYPE)[0].op.tolist() == block.op.tolist()


def test_cells_to_blocks_rejects_bad_shapes():
  with pytest.raises(ValueError, match="more than t_max"):
    darts.cells_to_blocks(jnp.ones((4, 2), jnp.int32), jnp.zeros((4, 2), jnp.int32),
                          t_max=10)
  with pytest.raises(ValueError, match=r"\[..., steps, 2\]"):
    darts.cells_to_blocks(jnp.ones((4, 3), jnp.int32), jnp.zeros((4, 3), jnp.int32))
