"""Tests of the expert library (Sec. 4.1, 4.3)."""

import numpy as np
import pytest

from irlas_jax.spaces import experts
from irlas_jax.spaces.block import to_layers, validate

# Written out from the paper (Sec. 4.1, 4.3) and the issue, not from the module.
PAPER = {
    "resnet": [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("add", 2, 0)],
    "resnet_modify1": [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0),
                       ("dwconv3x3", 2, 0), ("add", 3, 1)],
    "resnet_modify2": [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0),
                       ("add", 2, 0), ("dwconv3x3", 3, 0)],
    "resnet_modify3": [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0)],
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_experts(name):
  assert to_layers(experts.get(name)) == PAPER[name]


def test_library_has_the_multi_expert_blocks():
  for name in ("resnet_bottleneck", "resnext", "mobilenetv2", "densenet"):
    assert name in experts.names("block")
  assert experts.MODIFICATIONS == ("resnet_modify1", "resnet_modify2", "resnet_modify3")


@pytest.mark.parametrize("name", experts.names("block"))
def test_every_expert_is_a_valid_block_with_one_output(name):
  block = experts.get(name, t_max=12)
  validate(block)
  layers = to_layers(block)
  arity = {op.name: op.arity for op in block.opset.ops}
  used = {p for op, p1, p2 in layers for p in ((p1, p2) if arity[op] == 2 else (p1,))}
  sinks = [t for t in range(1, len(layers) + 1) if t not in used]
  # Hand-designed blocks end in a single layer (so the output concat is trivial).
  assert sinks == [len(layers)], (name, sinks)


def test_residual_experts_add_their_input():
  for name in ("resnet", "resnet_bottleneck", "resnext", "mobilenetv2"):
    assert to_layers(experts.get(name))[-1][0] == "add"
    assert to_layers(experts.get(name))[-1][2] == 0


def test_t_max_only_pads():
  short, long = experts.get("densenet", t_max=6), experts.get("densenet", t_max=24)
  np.testing.assert_array_equal(np.asarray(short.op), np.asarray(long.op)[:6])
  assert to_layers(short) == to_layers(long)
  with pytest.raises(ValueError, match="length 7 is out of range"):
    experts.get("resnext", t_max=6)


def test_unknown_expert_lists_the_known_ones():
  with pytest.raises(ValueError, match="unknown expert 'vgg'.*resnet, resnet_modify1"):
    experts.get("vgg")
