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

from collections.abc import Sequence

from irlas_jax.spaces.block import DEFAULT_T_MAX, Block, from_layers
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet

_BLOCK_EXPERTS: dict[str, tuple[tuple[str, int, int], ...]] = {
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

# name -> (layers, op set). Other spaces (NAS-Bench-201, DARTS) add theirs
# with register_expert when their module is imported.
_EXPERTS: dict[str, tuple[tuple[tuple[str, int, int], ...], OpSet]] = {
    name: (layers, BLOCK_OPS) for name, layers in _BLOCK_EXPERTS.items()}

# space (op set name) -> (its default expert, its default t_max).
_SPACE_DEFAULTS: dict[str, tuple[str, int]] = {"block": ("resnet", DEFAULT_T_MAX)}
# space -> the feature encoding its MSF is fitted with, where not the global default.
_SPACE_ENCODINGS: dict[str, str] = {}

# The Sec. 4.3 study: the expert and its three modifications, in order.
MODIFICATIONS = ("resnet_modify1", "resnet_modify2", "resnet_modify3")


def register_expert(name: str, expert_layers: Sequence[tuple[str, int, int]],
                    opset: OpSet) -> None:
  """Adds expert ``name`` of the space ``opset``.

  Op names and preds are checked here with plain Python (registration runs at
  import, and must not initialise JAX before a multi-host run calls
  ``jax.distributed.initialize``); ``get`` validates the whole block.
  """
  expert_layers = tuple(tuple(layer) for layer in expert_layers)
  known = _EXPERTS.get(name)
  if known is not None and known != (expert_layers, opset):
    raise ValueError(f"another expert is already registered as {name!r}")
  for t, layer in enumerate(expert_layers, start=1):
    opset.op_id(layer[0])  # an unknown op fails here; the rest is checked by get()
    if not all(0 <= p < opset.node(t) for p in layer[1:]):
      raise ValueError(f"expert {name!r}, layer {t}: preds {layer[1:]} must be "
                       f"earlier nodes")
  _EXPERTS[name] = (expert_layers, opset)


def set_space_default(space: str, expert: str, t_max: int,
                      encoding: str | None = None) -> None:
  """Makes ``expert`` (already registered) the default expert of ``space``,
  and optionally ``encoding`` the feature encoding its MSF is fitted with."""
  if opset(expert).name != space:
    raise ValueError(f"expert {expert!r} is written in space {opset(expert).name!r}, "
                     f"not {space!r}")
  _SPACE_DEFAULTS[space] = (expert, int(t_max))
  if encoding is not None:
    _SPACE_ENCODINGS[space] = encoding


def space_encoding(space: str) -> str | None:
  """The space's own default feature encoding (None: the global default)."""
  return _SPACE_ENCODINGS.get(space)


def space_default(space: str) -> tuple[str, int]:
  """``(default expert, default t_max)`` of the space (op set) ``space``."""
  if space not in _SPACE_DEFAULTS:
    raise ValueError(f"no default expert for space {space!r}; spaces with one: "
                     f"{', '.join(_SPACE_DEFAULTS)} (importing irlas_jax.spaces "
                     f"registers them all)")
  return _SPACE_DEFAULTS[space]


def names(space: str | None = None) -> tuple[str, ...]:
  """Names of the known experts (of op set ``space`` only, if given)."""
  return tuple(n for n, (_, opset) in _EXPERTS.items()
               if space is None or opset.name == space)


def _entry(name: str):
  if name not in _EXPERTS:
    raise ValueError(f"unknown expert {name!r}; known experts: {', '.join(names())}")
  return _EXPERTS[name]


def layers(name: str) -> list[tuple[str, int, int]]:
  """The ``(op, pred1, pred2)`` layers of expert ``name``."""
  return list(_entry(name)[0])


def opset(name: str) -> OpSet:
  """The op set (search space) expert ``name`` is written in."""
  return _entry(name)[1]


def get(name: str, t_max: int = DEFAULT_T_MAX) -> Block:
  """Expert ``name`` as a validated :class:`Block` of its space, padded to ``t_max``."""
  expert_layers, expert_opset = _entry(name)
  return from_layers(expert_layers, t_max=t_max, opset=expert_opset)
