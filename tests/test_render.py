"""Tests of the block drawings: files written, layout rules, errors."""

import functools

import jax
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
import numpy as np
from PIL import Image
import pytest

from irlas_jax.spaces import experts
from irlas_jax.spaces import render
from irlas_jax.spaces.block import from_layers, sample_uniform, stack_blocks, to_layers
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet, OpSpec

TWO_INPUT_OPS = OpSet(
    name="two_inputs",
    ops=(OpSpec("sep_conv_3x3", "sepconv", kernel=3),
         OpSpec("dil_conv_3x3", "dilconv", kernel=3, dilation=2),
         OpSpec("max_pool_3x3", "maxpool", kernel=3),
         OpSpec("skip_connect", "identity"),
         OpSpec("sum", "add", arity=2)),
    num_inputs=2,
)


@functools.lru_cache(maxsize=None)
def _random_blocks():
  return sample_uniform(jax.random.key(0), 8, 24)


def _long_random_block():
  blocks = _random_blocks()
  lengths = np.asarray(blocks.length)
  assert lengths.max() >= 20
  return blocks[int(np.argmax(lengths >= 20))]


def _two_input_block():
  return from_layers([("sep_conv_3x3", 0, 0), ("max_pool_3x3", 1, 0),
                      ("sum", 3, 2), ("dil_conv_3x3", 0, 0), ("skip_connect", 4, 0)],
                     t_max=8, opset=TWO_INPUT_OPS)


def _read_png(path):
  with Image.open(path) as im:
    im.load()
    return np.asarray(im.convert("RGB"))


def _expected_ranks(block):
  """Longest path from the inputs, computed independently of the module."""
  ni = block.opset.num_inputs
  rank = {i: 0 for i in range(ni)}
  used = set()
  for t, (name, p1, p2) in enumerate(to_layers(block), start=1):
    preds = [p1, p2] if block.opset.ops[block.opset.op_id(name)].arity == 2 else [p1]
    used.update(preds)
    rank[ni - 1 + t] = 1 + max(rank[p] for p in preds)
  sinks = [v for v in rank if v >= ni and v not in used]
  rank[render.OUTPUT] = 1 + max(rank[v] for v in sinks)
  return rank


@pytest.mark.parametrize("name", experts.names("block"))
def test_draw_expert_writes_png(tmp_path, name):
  path = tmp_path / f"{name}.png"
  assert render.draw(experts.get(name), path, title=name) == path
  image = _read_png(path)
  height, width, _ = image.shape
  assert 100 <= width <= 2000 and 300 <= height <= 3000
  assert height > width  # a chain of layers: taller than wide
  assert (image < 128).any() and (image > 250).any()  # ink on a white page


def test_layout_resnet_ranks():
  lay = render.layout(experts.get("resnet"))
  assert {k: rank for k, (_, rank) in lay.items()} == {
      0: 0, 1: 1, 2: 2, 3: 3, render.OUTPUT: 4}
  # The main chain is drawn straight down, the shortcut bends around it.
  xs = [lay[k][0] for k in (0, 1, 2, 3, render.OUTPUT)]
  assert max(xs) - min(xs) < 0.1


def test_layout_densenet_ranks():
  lay = render.layout(experts.get("densenet"))
  assert {k: rank for k, (_, rank) in lay.items()} == {
      0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, render.OUTPUT: 7}


@pytest.mark.parametrize("i", range(8))
def test_layout_random_ranks_are_longest_paths(i):
  block = _random_blocks()[i]
  lay = render.layout(block)
  assert {k: rank for k, (_, rank) in lay.items()} == _expected_ranks(block)


def test_layout_boxes_do_not_overlap():
  for i in range(8):
    built = render._build(_random_blocks()[i])
    for r in range(built.num_ranks):
      nodes = sorted((n for n in built.nodes.values() if n.rank == r),
                     key=lambda n: n.x)
      for a, b in zip(nodes[:-1], nodes[1:]):
        assert b.x - a.x >= (a.width + b.width) / 2 - 1e-9


def test_draw_long_random_block(tmp_path):
  block = _long_random_block()
  num_ranks = max(rank for _, rank in render.layout(block).values()) + 1
  path = render.draw(block, tmp_path / "random.png")
  height, width, _ = _read_png(path).shape
  assert height >= num_ranks * 0.6 * 150  # about 0.7 inch a rank at 150 dpi
  assert width >= 300


def test_draw_into_axes_labels_and_arrows(tmp_path):
  fig = Figure(figsize=(6, 4))
  ax1, ax2 = fig.subplots(1, 2)
  assert render.draw(experts.get("resnet"), None, title="resnet", ax=ax1) is None
  texts = [t.get_text() for t in ax1.texts]
  assert sorted(texts) == sorted(["input", "dwconv 3x3", "dwconv 3x3", "add", "output"])
  assert ax1.get_title() == "resnet"
  arrows = [p for p in ax1.patches if isinstance(p, FancyArrowPatch)]
  assert len(arrows) == 5  # 1 + 1 + 2 (add) + 1 (to the output)
  path = tmp_path / "two.png"
  assert render.draw(experts.get("densenet"), path, ax=ax2) == path
  assert path.stat().st_size > 0


def test_two_input_op_set(tmp_path):
  block = _two_input_block()
  lay = render.layout(block)
  assert lay[0][1] == lay[1][1] == 0 and lay[0][0] < lay[1][0]
  assert lay[render.OUTPUT][1] == 4
  fig = Figure()
  render.draw(block, None, ax=fig.add_subplot())
  texts = {t.get_text() for t in fig.axes[0].texts}
  assert {"input 0", "input 1", "sep conv 3x3", "dil conv 3x3 d2", "add",
          "identity", "output (concat)"} <= texts
  assert render.draw(block, tmp_path / "two.png").stat().st_size > 0


def test_op_labels_and_colours():
  labels = dict(zip((op.name for op in BLOCK_OPS.ops), render.op_labels(BLOCK_OPS)))
  assert labels["dwconv3x3"] == "dwconv 3x3"
  assert labels["maxpool3x3"] == "max pool 3x3"
  assert labels["avgpool5x5"] == "avg pool 5x5"
  assert labels["add"] == "add" and labels["concat"] == "concat"
  assert labels["identity"] == "identity"
  colours = [render.kind_color(BLOCK_OPS, kind) for kind in BLOCK_OPS.kinds]
  assert len(set(colours)) == len(colours)
  clash = OpSet("clash", (OpSpec("conv_a", "conv", 3), OpSpec("conv_b", "conv", 3),
                          OpSpec("conv5", "conv", 5)))
  assert render.op_labels(clash) == ("conv_a", "conv_b", "conv 5x5")


def test_draw_grid(tmp_path):
  blocks = [experts.get(name) for name in experts.names("block")]
  path = tmp_path / "grid.png"
  assert render.draw_grid(blocks, path, titles=list(experts.names("block"))) == path
  height, width, _ = _read_png(path).shape
  single_w = _read_png(render.draw(blocks[0], tmp_path / "one.png")).shape[1]
  assert width > 3 * single_w  # four columns
  # A batch with one leading axis works too, and fewer blocks than columns.
  batch = stack_blocks(blocks[:3])
  assert render.draw_grid(batch, tmp_path / "batch.png", ncols=4).stat().st_size > 0


def test_svg(tmp_path):
  path = render.draw(experts.get("resnext"), tmp_path / "resnext.svg", title="resnext")
  text = path.read_text()
  assert "<svg" in text and text.rstrip().endswith("</svg>")
  render.draw_grid([experts.get("resnet"), _long_random_block()], tmp_path / "grid.svg")
  assert "<svg" in (tmp_path / "grid.svg").read_text()


def test_errors(tmp_path):
  batch = _random_blocks()
  with pytest.raises(ValueError, match=r"index it first"):
    render.draw(batch, tmp_path / "batch.png")
  with pytest.raises(ValueError, match=r"index it first"):
    render.layout(batch)
  resnet = experts.get("resnet")
  for bad in ("resnet.jpg", "resnet", "resnet.png.txt"):
    with pytest.raises(ValueError, match=r"unsupported extension"):
      render.draw(resnet, tmp_path / bad)
    assert not (tmp_path / bad).exists()
  with pytest.raises(ValueError, match=r"unsupported extension"):
    render.draw_grid([resnet], tmp_path / "grid.gif")
  with pytest.raises(ValueError, match=r"path .* or an ax"):
    render.draw(resnet, None)
  with pytest.raises(ValueError, match=r"at least one block"):
    render.draw_grid([], tmp_path / "grid.png")
  with pytest.raises(ValueError, match=r"2 titles for 1 blocks"):
    render.draw_grid([resnet], tmp_path / "grid.png", titles=["a", "b"])
  with pytest.raises(ValueError, match=r"block 1: .*index it first"):
    render.draw_grid([resnet, batch], tmp_path / "grid.png")
  with pytest.raises(ValueError, match=r"ncols"):
    render.draw_grid([resnet], tmp_path / "grid.png", ncols=0)
