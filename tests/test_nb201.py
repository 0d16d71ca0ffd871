"""The NAS-Bench-201 cell space: strings, codes, layer sequences, mutation, IRL."""

import math

import jax
import numpy as np
import pytest

from experiments.configs import irl as irl_config
from experiments.jobs import irl as irl_job
from irlas_jax.spaces import arch_space
from irlas_jax.spaces import experts
from irlas_jax.spaces import nb201
from irlas_jax.spaces.block import to_layers, validate

README_ROW_1601 = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"


def test_string_round_trip_for_every_cell():
  cells = nb201.all_cells()
  assert cells.shape == (15_625, 6)
  strings = [nb201.to_string(c) for c in cells]
  assert len(set(strings)) == 15_625
  for cell, s in zip(cells, strings):
    np.testing.assert_array_equal(nb201.parse(s), cell)
  np.testing.assert_array_equal(nb201.decode(nb201.encode(cells)), cells)
  np.testing.assert_array_equal(nb201.encode(cells), np.arange(15_625))


def test_string_format_is_nas_bench_201s():
  cell = nb201.parse(nb201.RESNET_CELL)
  # edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3)
  assert [nb201.EDGE_OPS[o] for o in cell] == [
      "nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect"]
  assert nb201.to_string(cell) == nb201.RESNET_CELL


@pytest.mark.parametrize("bad, words", [
    ("|none~0|+|none~0|none~1|", "3 nodes"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must read node 0"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
])
def test_malformed_strings_name_the_problem(bad, words):
  with pytest.raises(ValueError, match=words):
    nb201.parse(bad)


def test_layer_sequences_written_by_hand():
  assert nb201.to_layers(nb201.parse(nb201.RESNET_CELL)) == [
      ("nor_conv_3x3", 0, 0), ("nor_conv_3x3", 1, 0), ("skip_connect", 0, 0),
      ("skip_connect", 2, 0), ("add", 4, 3)]
  # The README's row 1601: node 3 reads only the skip from the input.
  assert nb201.to_layers(nb201.parse(README_ROW_1601)) == [("skip_connect", 0, 0)]
  # Output node dead: the cell outputs zeros.
  dead = "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|none~0|none~1|none~2|"
  assert nb201.to_layers(nb201.parse(dead)) == [("zero", 0, 0)]
  # Node 1 is dead, so its out-edges vanish; node 2 sums two edges... of which one is dead.
  chain = "|none~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
  assert nb201.to_layers(nb201.parse(chain)) == [
      ("nor_conv_1x1", 0, 0), ("avg_pool_3x3", 0, 0), ("skip_connect", 1, 0),
      ("add", 3, 2)]
  full = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
  layers = nb201.to_layers(nb201.parse(full))
  assert len(layers) == nb201.T_MAX == 9 and [l[0] for l in layers].count("add") == 3


# Scalar stand-ins for the ops, each with f(0) = 0 (a dead node is zero).
_SCALAR_OPS = {
    "skip_connect": lambda x: x,
    "nor_conv_1x1": lambda x: math.sin(1.7 * x) + 0.3 * x,
    "nor_conv_3x3": lambda x: math.tanh(2.3 * x) - 0.4 * x ** 3,
    "avg_pool_3x3": lambda x: 0.6 * x + 0.2 * x ** 2,
}


def _cell_value(cell, x):
  """NAS-Bench-201's definition: node j = sum_i op_ij(node i); output node 3."""
  nodes = [x, 0.0, 0.0, 0.0]
  for e, (i, j) in enumerate(nb201.EDGES):
    name = nb201.EDGE_OPS[cell[e]]
    if name != "none":
      nodes[j] += _SCALAR_OPS[name](nodes[i])
  return nodes[3]


def _layers_value(layers, x):
  values = [x]
  for name, p1, p2 in layers:
    if name == "add":
      values.append(values[p1] + values[p2])
    elif name == "zero":
      values.append(0.0)
    else:
      values.append(_SCALAR_OPS[name](values[p1]))
  return values[-1]


def test_every_cell_computes_what_nas_bench_201_defines():
  """Independent reference: evaluate the cell DAG and the layer sequence on a
  scalar input, with the same scalar functions standing in for the ops."""
  for cell in nb201.all_cells():
    layers = nb201.to_layers(cell)
    used = {p for _, p1, p2 in layers for p in (p1, p2)}
    sinks = [t for t in range(1, len(layers) + 1) if t not in used]
    assert sinks == [len(layers)], (nb201.to_string(cell), layers)  # one output: the last layer
    for x in (0.7, -1.3):
      assert _layers_value(layers, x) == pytest.approx(_cell_value(cell, x), abs=1e-12)


def test_all_blocks_are_the_cells_in_code_order():
  blocks = nb201.all_blocks()
  assert blocks.batch_shape == (15_625,) and blocks.opset is nb201.NB201_OPS
  for code in np.random.default_rng(0).integers(0, 15_625, 40):
    block = blocks[int(code)]
    validate(block)
    assert to_layers(block) == nb201.to_layers(nb201.decode(code))


def test_mutation_changes_exactly_one_edge():
  cells = nb201.sample(jax.random.key(0), 300)
  keys = jax.random.split(jax.random.key(1), 300)
  children = jax.vmap(nb201.mutate)(keys, cells)
  changed = np.sum(np.asarray(children) != np.asarray(cells), axis=1)
  assert np.all(changed == 1)
  assert np.asarray(children).min() >= 0 and np.asarray(children).max() < 5
  assert arch_space.get_arch_space("nb201").mutate is nb201.mutate


def _fit(encoding):
  config = irl_config.get_config()
  config.space = "nb201"
  config.irl.encoding = encoding
  return irl_job.fit_and_check(config.irl, log=None)


def test_irl_makes_the_resnet_cell_the_best_cell():
  """Alg. 1 with the RL step by enumeration and the space's own encoding
  (positional): the ResNet cell scores higher than every other cell."""
  assert experts.space_default("nb201") == ("nb201_resnet", 9)
  msf, info, best = _fit(None)
  assert msf.encoding == "positional" and info["rl_step"] == "enumerate"
  assert info["terminated"] and info["optimal_is_expert"]
  f = np.asarray(msf(nb201.all_blocks()))
  resnet = int(nb201.encode(nb201.parse(nb201.RESNET_CELL)))
  assert np.sum(f >= f[resnet]) == 1  # only itself


def test_relative_depth_does_not_single_out_the_resnet_cell():
  """Why nb201 has its own default encoding (see irlas_jax/spaces/nb201.py)."""
  msf, info, _ = _fit("relative_depth")
  f = np.asarray(msf(nb201.all_blocks()))
  resnet = int(nb201.encode(nb201.parse(nb201.RESNET_CELL)))
  assert not info["optimal_is_expert"] and np.sum(f > f[resnet]) > 50
