"""Expert blocks: human-designed topologies written in the block space.

The paper's expert (Sec. 4.1) is the ResNet basic block with its convolutions
made depthwise(-separable); Sec. 4.3 edits it three ways to probe the mirror
stimuli function. The other experts serve multi-expert IRL (the paper's
future work) and the library of topologies the MSF can be fitted on.

Every expert is a list of ``(op, pred1, pred2)`` layers (see
:func:`irlas_jax.spaces.block.from_layers`); node 0 is the block input and
layers with no successor are concatenated into the output. What the block
space cannot express, and how each expert simplifies it:

* every conv is the space's pre-activation depthwise-separable conv
  (ReLU, depthwise k x k, pointwise 1 x 1, BN), and widths are the stage
  width (the network, not the block, chooses channels), so expansion and
  reduction ratios (bottleneck 4x, MobileNetV2 6x) are not expressed: only
  the kernel sizes and the wiring are;
* ``resnet_bottleneck``: 1x1 -> 3x3 -> 1x1 with the identity shortcut;
* ``resnext``: the split-transform-merge of ResNeXt written with cardinality
  2 (two 1x1 -> 3x3 paths, concatenated, fused by a 1x1, then the shortcut),
  i.e. ResNeXt's "early concatenation" form (b); grouped convs are not an op
  of this space;
* ``mobilenetv2``: the inverted residual: a 1x1 (pointwise expansion), then
  the 3x3 depthwise-separable conv whose pointwise half is the linear
  projection, then the shortcut; the space's convs always carry a ReLU in
  front, so the "linear bottleneck" is not linear here;
* ``densenet``: three dense layers; each layer's input is the concat of the
  previous layer's output and everything before it (chained two-input
  concats give the dense connectivity); composite functions are one 3x3.
"""

from __future__ import annotations

from irlas_jax.spaces.block import DEFAULT_T_MAX, Block, from_layers

_EXPERTS: dict[str, tuple[tuple[str, int, int], ...]] = {
    # The paper's expert: pre-activation ResNet basic block, depthwise convs.
    "resnet": (("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("add", 2, 0)),
    # Sec. 4.3 modification 1: a conv before the residual function; the
    # shortcut starts after it.
    "resnet_modify1": (("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0),
                       ("dwconv3x3", 2, 0), ("add", 3, 1)),
    # Sec. 4.3 modification 2: a conv after the residual function.
    "resnet_modify2": (("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0),
                       ("add", 2, 0), ("dwconv3x3", 3, 0)),
    # Sec. 4.3 modification 3: the shortcut removed.
    "resnet_modify3": (("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0)),
    "resnet_bottleneck": (("dwconv1x1", 0, 0), ("dwconv3x3", 1, 0),
                          ("dwconv1x1", 2, 0), ("add", 3, 0)),
    "resnext": (("dwconv1x1", 0, 0), ("dwconv3x3", 1, 0),
                ("dwconv1x1", 0, 0), ("dwconv3x3", 3, 0),
                ("concat", 4, 2), ("dwconv1x1", 5, 0), ("add", 6, 0)),
    "mobilenetv2": (("dwconv1x1", 0, 0), ("dwconv3x3", 1, 0), ("add", 2, 0)),
    "densenet": (("dwconv3x3", 0, 0), ("concat", 1, 0),
                 ("dwconv3x3", 2, 0), ("concat", 3, 2),
                 ("dwconv3x3", 4, 0), ("concat", 5, 4)),
}

# The Sec. 4.3 study: the expert and its three modifications, in order.
MODIFICATIONS = ("resnet_modify1", "resnet_modify2", "resnet_modify3")


def names() -> tuple[str, ...]:
  """Names of the known experts."""
  return tuple(_EXPERTS)


def layers(name: str) -> list[tuple[str, int, int]]:
  """The ``(op, pred1, pred2)`` layers of expert ``name``."""
  if name not in _EXPERTS:
    raise ValueError(f"unknown expert {name!r}; known experts: {', '.join(names())}")
  return list(_EXPERTS[name])


def get(name: str, t_max: int = DEFAULT_T_MAX) -> Block:
  """Expert ``name`` as a validated :class:`Block` padded to ``t_max``."""
  return from_layers(layers(name), t_max=t_max)
