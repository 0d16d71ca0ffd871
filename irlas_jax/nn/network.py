"""Networks stacked from one block (Sec. 4.1-4.2): stem, stages, downsampling, classifier.

The paper trains each sampled block in a network of the block "stacked"
several times (Sec. 4.1, 12 epochs with Adam for the search) and the best
block in a network of 10 blocks on CIFAR-10 (Sec. 4.2), transferred to
ImageNet (mobile setting, 224 x 224) "by increasing the total number of
stacked blocks and the filter channel size". The macro-architecture is not
given; decisions:

* **Stem**: one 3x3 conv (no bias) + BN per entry of ``stem_strides``, all
  to ``stem_width`` channels, with a ReLU between consecutive stem convs and
  none after the last (the blocks are pre-activation: each of their convs
  starts with a ReLU). CIFAR: one stride-1 conv; ImageNet-mobile: two
  stride-2 convs (224 -> 56), as mobile networks reduce early.
* **Stages**: stage ``i`` repeats the same block ``repeats[i]`` times at
  width ``widths[i]``; every repetition has its own weights (parameter name
  ``stage{i}_block{j}``).
* **Transitions** (``transition{i}`` in front of stage i): between stages,
  stride 2 and the width goes from ``widths[i-1]`` to ``widths[i]``:
  ``downsample="conv"`` (default) is the pre-activation separable conv of
  the block space with stride 2 (ReLU, depthwise 3x3 stride 2, pointwise to
  the new width, BN), i.e. a ``dwconv3x3`` that downsamples;
  ``"maxpool"``/``"avgpool"`` is ReLU, 2x2 pool stride 2 (SAME; the average
  counts valid pixels), pointwise conv to the new width, BN. The default is
  the conv: it learns the reduction (like BlockQNN's/NASNet's reduction
  cells, which hold convs) and costs little. In front of stage 0 there is a
  transition only when ``stem_width != widths[0]``: stride 1, ReLU + 1x1
  conv + BN (``"conv"`` uses a ``dwconv1x1``).
* **Head**: ReLU (the last block ends with a BN), global average pooling,
  dense classifier with bias (``classifier``).
* Blocks: :class:`~irlas_jax.nn.blocks.StaticBlock` in
  :class:`StaticNetwork`, :class:`~irlas_jax.nn.blocks.DynamicBlock` in
  :class:`DynamicNetwork`; every other module is shared, so
  :func:`~irlas_jax.nn.blocks.static_variables_from_dynamic` maps a whole
  network's variables (it rewrites the block subtrees and copies the rest)
  and the two networks compute the same function.

Presets (param counts from ``count_params``; a block's parameters grow with
the number of its convs and concats, so the count depends on the block):

* :func:`cifar10` (Sec. 4.2, "the total number of stacked blocks as 10"):
  three stages at 32, 16, 8 pixels, repeats (3, 4, 3), widths (128, 256,
  512). The ResNet expert block gives 2.44M parameters, the bottleneck and
  modified ResNets 3.5-3.6M (the paper's best block: 3.91M, in a network it
  does not describe); a uniform random block of the space (t_max 24, median
  length 12) gives a median of 12M.
* :func:`imagenet_mobile` (Sec. 4.2, 224 x 224, "increasing the total number
  of stacked blocks and the filter channel size"): stem 224 -> 56 (two
  stride-2 convs), four stages at 56, 28, 14, 7 pixels, repeats (2, 3, 4, 3)
  = 12 blocks, widths (40, 80, 160, 320), 1000 classes. The ResNet expert
  gives 1.31M parameters, ResNeXt 3.49M, DenseNet 4.37M, and a uniform
  random block of the space (t_max 24) a median of 5.3M (quartiles 3.4M,
  9.8M): about 5M for a typical block, as the mobile setting asks.
* :func:`cifar10_proxy`: the search's proxy network (DESIGN.md, "stem + 3
  blocks, C=16"): one stage of 3 blocks at width 16 on 32 x 32 images.
* :func:`tiny`: CPU tests and the quick run (8 x 8 digits): two stages of
  one block, widths (8, 16).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.nn import ops
from irlas_jax.nn.blocks import (DynamicBlock, StaticBlock, block_layers,
                                 check_image, check_opset, check_traced_block)
from irlas_jax.spaces.block import Block
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet

DOWNSAMPLE_KINDS = ("conv", "maxpool", "avgpool")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  """The macro-architecture around the block (Sec. 4.1-4.2). Hashable.

  Attributes:
    stem_width: channels of the stem convs.
    widths: channel width of each stage (the block's C there).
    repeats: number of blocks in each stage (same length as ``widths``).
    downsample: transition between stages: ``"conv"`` (stride-2
      pre-activation separable 3x3 conv to the new width), ``"maxpool"`` or
      ``"avgpool"`` (2x2 pool stride 2 + 1x1 conv to the new width).
    num_classes: classifier outputs.
    bn_momentum, bn_epsilon: BatchNorm settings of every BN.
    image_size: input height = width the preset was sized for
      (documentation; any size runs).
    stem_strides: stride of each stem conv (one conv per entry).
    depthwise_impl: how depthwise convs are computed: ``"auto"`` (shifted
      slices on CPU, XLA's grouped conv elsewhere), ``"conv"``, ``"shifts"``
      (see ``ops.depthwise_conv``; the same function and parameters).
  """
  stem_width: int = 16
  widths: tuple[int, ...] = (16,)
  repeats: tuple[int, ...] = (3,)
  downsample: str = "conv"
  num_classes: int = 10
  bn_momentum: float = ops.DEFAULT_BN_MOMENTUM
  bn_epsilon: float = ops.DEFAULT_BN_EPSILON
  image_size: int = 32
  stem_strides: tuple[int, ...] = (1,)
  depthwise_impl: str = "auto"

  def __post_init__(self):
    for name in ("widths", "repeats", "stem_strides"):
      value = getattr(self, name)
      if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"NetworkConfig.{name} must be a sequence of ints, got {value!r}")
      object.__setattr__(self, name, tuple(int(v) for v in value))
    if not self.widths:
      raise ValueError("NetworkConfig.widths is empty: a network needs at least one stage")
    if len(self.widths) != len(self.repeats):
      raise ValueError(f"NetworkConfig.widths {self.widths} and repeats {self.repeats} "
                       f"have different lengths ({len(self.widths)} vs "
                       f"{len(self.repeats)}): one width and one repeat count per stage")
    for name in ("widths", "repeats", "stem_strides"):
      if any(v < 1 for v in getattr(self, name)):
        raise ValueError(f"NetworkConfig.{name} must be positive, got {getattr(self, name)}")
    if not self.stem_strides:
      raise ValueError("NetworkConfig.stem_strides is empty: the stem needs one conv")
    for name in ("stem_width", "num_classes", "image_size"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"NetworkConfig.{name} must be >= 1, got {getattr(self, name)}")
    if self.downsample not in DOWNSAMPLE_KINDS:
      raise ValueError(f"NetworkConfig.downsample must be one of {DOWNSAMPLE_KINDS}, "
                       f"got {self.downsample!r}")
    if not 0.0 <= self.bn_momentum < 1.0:
      raise ValueError(f"NetworkConfig.bn_momentum must be in [0, 1), got {self.bn_momentum}")
    if not self.bn_epsilon > 0.0:
      raise ValueError(f"NetworkConfig.bn_epsilon must be > 0, got {self.bn_epsilon}")
    if self.depthwise_impl not in ops.DEPTHWISE_IMPLS:
      raise ValueError(f"NetworkConfig.depthwise_impl must be one of "
                       f"{ops.DEPTHWISE_IMPLS}, got {self.depthwise_impl!r}")

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> "NetworkConfig":
    """From a dict or ``ml_collections.ConfigDict``; unknown keys are a ValueError."""
    values = dict(values)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"unknown NetworkConfig field(s) {unknown}; known fields: "
                       f"{sorted(known)}")
    return cls(**values)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def replace(self, **changes) -> "NetworkConfig":
    return dataclasses.replace(self, **changes)

  @property
  def num_blocks(self) -> int:
    return sum(self.repeats)


def cifar10() -> NetworkConfig:
  """CIFAR-10 final training (Sec. 4.2): 10 blocks in 3 stages, widths 128-512."""
  return NetworkConfig(stem_width=128, widths=(128, 256, 512), repeats=(3, 4, 3),
                       downsample="conv", num_classes=10, image_size=32,
                       stem_strides=(1,))


def imagenet_mobile() -> NetworkConfig:
  """ImageNet mobile setting (Sec. 4.2): 224 x 224, 12 blocks in 4 stages, widths 48-384."""
  return NetworkConfig(stem_width=32, widths=(40, 80, 160, 320),
                       repeats=(2, 3, 4, 3), downsample="conv", num_classes=1000,
                       image_size=224, stem_strides=(2, 2))


def cifar10_proxy() -> NetworkConfig:
  """The search's proxy network (Sec. 4.1; DESIGN.md): stem + 3 blocks at width 16."""
  return NetworkConfig(stem_width=16, widths=(16,), repeats=(3,), downsample="conv",
                       num_classes=10, image_size=32, stem_strides=(1,))


def tiny() -> NetworkConfig:
  """CPU-sized network for tests and 8 x 8 digits: 2 stages of one block, widths 8, 16."""
  return NetworkConfig(stem_width=8, widths=(8, 16), repeats=(1, 1), downsample="conv",
                       num_classes=10, image_size=8, stem_strides=(1,))


PRESETS = {"cifar10": cifar10, "imagenet_mobile": imagenet_mobile,
           "cifar10_proxy": cifar10_proxy, "tiny": tiny}


def from_preset(name: str, overrides=None, where: str = "config", **fields) -> NetworkConfig:
  """Preset ``name`` with ``fields`` (e.g. num_classes, image_size) and the
  user's ``overrides`` (a mapping of NetworkConfig fields; lists become
  tuples). Errors name ``{where}.network`` / ``{where}.network_overrides``."""
  if name not in PRESETS:
    raise ValueError(f"{where}.network={name!r}; known presets: {', '.join(PRESETS)}")
  overrides = {k: tuple(v) if isinstance(v, (list, tuple)) else v
               for k, v in dict(overrides or {}).items()}
  try:
    return PRESETS[name]().replace(**fields, **overrides)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{where}.network_overrides: {e}") from None


# -- shared modules -------------------------------------------------------------

class Stem(nn.Module):
  """3x3 conv + BN per stem stride, ReLU between them, to ``stem_width``."""
  config: NetworkConfig

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    c = self.config
    for i, stride in enumerate(c.stem_strides):
      if i:
        x = nn.relu(x)
      x = nn.Conv(c.stem_width, (3, 3), strides=(stride, stride), padding="SAME",
                  use_bias=False, dtype=jnp.float32, param_dtype=jnp.float32,
                  name=f"conv{i}")(x)
      x = ops.batch_norm(train, c.bn_momentum, c.bn_epsilon, name=f"bn{i}")(x)
    return x


class Transition(nn.Module):
  """Width change (and stride-2 downsampling) in front of a stage; see the module docstring."""
  kind: str
  features: int
  strides: int
  bn_momentum: float = ops.DEFAULT_BN_MOMENTUM
  bn_epsilon: float = ops.DEFAULT_BN_EPSILON
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.kind == "conv":
      kernel = 3 if self.strides > 1 else 1
      return ops.SeparableConv(kernel, features=self.features, strides=self.strides,
                               bn_momentum=self.bn_momentum,
                               bn_epsilon=self.bn_epsilon,
                               depthwise_impl=self.depthwise_impl, name="conv")(x, train)
    y = nn.relu(x)
    if self.strides > 1:
      window, strides = (self.strides, self.strides), (self.strides, self.strides)
      if self.kind == "maxpool":
        y = nn.max_pool(y, window, strides=strides, padding="SAME")
      else:
        y = nn.avg_pool(y, window, strides=strides, padding="SAME",
                        count_include_pad=False)
    y = ops.pointwise(self.features, "pointwise")(y)
    return ops.batch_norm(train, self.bn_momentum, self.bn_epsilon)(y)


class Head(nn.Module):
  """ReLU, global average pooling, dense classifier."""
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = jnp.mean(nn.relu(x), axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=jnp.float32, param_dtype=jnp.float32,
                    name="classifier")(x)


def _network(x: jax.Array, config: NetworkConfig, make_block, train: bool) -> jax.Array:
  """The body shared by both networks; ``make_block(width, name)`` builds a block."""
  c = config
  x = Stem(c, name="stem")(x, train)
  width = c.stem_width
  for i, (stage_width, repeats) in enumerate(zip(c.widths, c.repeats)):
    strides = 1 if i == 0 else 2
    if strides > 1 or stage_width != width:
      x = Transition(c.downsample, stage_width, strides, c.bn_momentum, c.bn_epsilon,
                     c.depthwise_impl, name=f"transition{i}")(x, train)
    width = stage_width
    for j in range(repeats):
      x = make_block(f"stage{i}_block{j}")(x, train)
  return Head(c.num_classes, name="head")(x)


def _check_config(config: Any, where: str) -> None:
  if not isinstance(config, NetworkConfig):
    raise ValueError(f"{where}: config must be a NetworkConfig (use "
                     f"NetworkConfig.from_dict for a dict/ConfigDict), got "
                     f"{type(config).__name__}")


class StaticNetwork(nn.Module):
  """The network of one concrete block, compiled with only its ops (Sec. 4.2).

  Attributes:
    block: a concrete :class:`Block` or a sequence of ``(op_name, pred1,
      pred2)`` layers (stored as the validated tuple of layers).
    config: the :class:`NetworkConfig`.
    opset: the layers' op set (taken from ``block`` if it is a Block).

  ``__call__(x, train=False)``: float32[N, H, W, C_in] -> logits
  float32[N, num_classes].
  """
  block: Any
  config: NetworkConfig
  opset: OpSet = BLOCK_OPS

  def __post_init__(self):
    _check_config(self.config, "StaticNetwork")
    if isinstance(self.block, Block):
      object.__setattr__(self, "opset", self.block.opset)
    check_opset(self.opset, "StaticNetwork")
    object.__setattr__(self, "block", block_layers(self.block, self.opset))
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    check_image(x, "StaticNetwork")
    c = self.config

    def make_block(name):
      return StaticBlock(self.block, self.opset, c.bn_momentum, c.bn_epsilon,
                         c.depthwise_impl, name=name)

    return _network(x, c, make_block, train)


class DynamicNetwork(nn.Module):
  """The network of any block of the space, given as arrays at call time (Sec. 4.1).

  Every block position is a :class:`DynamicBlock`; one compiled program
  serves every block of ``t_max`` layers (vmap or lax.map over
  architectures with per-architecture variables).

  Attributes:
    config: the :class:`NetworkConfig`.
    t_max: padded size of the blocks.
    opset: the blocks' op set.

  ``__call__(x, block, train=False)``: float32[N, H, W, C_in] and one Block
  -> logits float32[N, num_classes].
  """
  config: NetworkConfig
  t_max: int
  opset: OpSet = BLOCK_OPS

  def __post_init__(self):
    _check_config(self.config, "DynamicNetwork")
    if not isinstance(self.t_max, int) or self.t_max < 1:
      raise ValueError(f"DynamicNetwork: t_max must be a positive int, got {self.t_max!r}")
    check_opset(self.opset, "DynamicNetwork")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, block: Block, train: bool = False) -> jax.Array:
    check_image(x, "DynamicNetwork")
    check_traced_block(block, self.t_max, self.opset, "DynamicNetwork")
    c = self.config

    def make_block(name):
      module = DynamicBlock(self.t_max, self.opset, c.bn_momentum, c.bn_epsilon,
                            c.depthwise_impl, name=name)
      return lambda x, train: module(x, block, train)

    return _network(x, c, make_block, train)


def count_params(variables: Mapping) -> int:
  """Number of scalars in ``variables["params"]`` (or in all of it, if no "params").

  Works on arrays and on ``jax.ShapeDtypeStruct`` trees (``jax.eval_shape``
  of ``init``), so large networks can be counted without allocating them.
  """
  tree = variables["params"] if isinstance(variables, Mapping) and "params" in variables \
      else variables
  return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree)))
