"""The ops of the block space in Flax (Sec. 3.4), at a fixed width C.

Sec. 3.4 lists the candidate ops: depthwise convolution 1x1, 3x3, 5x5 ("pre-
activation convolution containing ReLU, convolution and batch
normalization"), max pooling 3x3, 5x5, average pooling 3x3, 5x5, identity,
element-wise add of two layers and concat of two layers; "all the layers
without successor in the searched block are concatenated together as the
final output". Inside a block every node has the block's width C (the
network, not the block, chooses channels). Decisions where the paper is
silent or ambiguous:

* ``dwconv{k}x{k}`` (:class:`SeparableConv`) is a pre-activation
  depthwise-separable conv: ReLU -> depthwise k x k conv
  (``feature_group_count=C``, no bias) -> pointwise 1x1 conv C -> C (no bias)
  -> BatchNorm. A depthwise conv alone cannot mix channels (and a 1x1
  depthwise conv would only scale them); the paper's 3.91M parameters need
  the pointwise half. ``dwconv1x1`` is therefore a pointwise conv with its
  1x1 depthwise per-channel scale in front (see ``spaces/opset.py``). No
  bias: the BN that follows has its own shift.
* Pools (:func:`max_pool`, :func:`avg_pool`) have stride 1 and SAME padding,
  no ReLU, no BN and no parameters (as in NASNet/BlockQNN pooling branches).
  Max pooling pads with -inf, so a border window takes the max over its
  valid pixels. Average pooling counts only the valid pixels
  (``count_include_pad=False``): a border pixel is the mean of the pixels its
  window covers inside the image, so a constant image stays constant and the
  border is not darkened by zeros.
* ``identity`` returns its input; ``add`` is ``a + b`` with nothing after it
  (as the ResNet expert's shortcut add).
* ``concat`` (:class:`ConcatProjection`) must keep the width C: it is the
  channel concatenation followed by a pointwise projection 2C -> C and BN,
  with no ReLU (the next conv's pre-activation supplies it). It is computed
  as ``W_a a + W_b b`` with two C x C kernels ``proj_a`` and ``proj_b``: this
  is exactly ``conv1x1(concat(a, b))`` with the kernel ``concatenate([W_a,
  W_b], axis=input channels)``, without materialising the 2C tensor.
  ``a`` is the layer's pred1 input and ``b`` its pred2 input.
* The block output (:class:`SinkProjection`): the concat of the layers
  without successor (the "sinks") followed by a pointwise projection to C
  and BN, computed as ``BN(sum_s W_s x_s)`` with one C x C kernel row per
  sink node (``kernel[s]``), again identical to ``conv1x1(concat(sinks))``.
  Written this way, the dynamic block keeps one row per layer slot and
  multiplies non-sinks by zero, so any number of sinks has the same shapes.
  When a block has exactly one sink the concat of one tensor is that tensor
  and its width is already C, so the output IS that sink: no projection and
  no BN (then the ResNet expert block is exactly a pre-activation residual
  block, ``x + f(x)``, and stacking it gives a residual network). The block
  adds nothing else: no extra shortcut from the block input, no activation
  after the output (every conv of the next block starts with its own ReLU).
* BatchNorm: momentum 0.9, epsilon 1e-5 by default (config fields), scale
  and bias learned, statistics over (N, H, W). Everything is float32.
* Pointwise (1x1) convs are ``nn.Dense`` maps of the channel axis (kernel
  [C_in, C_out], a dot product): the same function as a 1x1 ``nn.Conv``,
  and under ``vmap`` over architectures (per-architecture kernels) a
  batched matmul, where a batched conv becomes a grouped conv (measured 45x
  slower, forward and backward, on XLA:CPU).
* Depthwise convs (:func:`depthwise_conv`) have two implementations of the
  same function with the same kernel [k, k, 1, C]: XLA's grouped conv, and
  a sum of k*k shifted slices times the taps. ``depthwise_impl="auto"``
  (the default) takes the slices on CPU, where XLA's depthwise conv is
  20-30x slower forward (3x backward) and far slower still when vmapped, and
  the conv elsewhere (cuDNN/TPU convs are the tuned path there; not
  measured here).
* Kernel initialisers are Flax's defaults (LeCun normal, fan-in k*k for a
  depthwise kernel, C for a pointwise one); each row of the sink projection
  is LeCun normal over its own C inputs (a BN follows, so the overall scale
  does not matter).

Each op is addressed through :func:`make_op_module` (its parameters, or
``None`` for a parameter-free op) and :func:`apply_op`; the static and the
dynamic block modules both call exactly these two functions, which is what
makes them numerically identical.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from irlas_jax.spaces.opset import OpSpec

DEFAULT_BN_MOMENTUM = 0.9
DEFAULT_BN_EPSILON = 1e-5

# Op kinds this module implements; parameterised ones hold weights per layer.
SUPPORTED_KINDS = ("dwconv", "maxpool", "avgpool", "identity", "add", "concat")
PARAMETERISED_KINDS = ("dwconv", "concat")


def batch_norm(train: bool, momentum: float, epsilon: float, name: str = "bn"
               ) -> nn.BatchNorm:
  """BatchNorm over (N, H, W): batch statistics when ``train``, else running."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum,
                      epsilon=epsilon, dtype=jnp.float32,
                      param_dtype=jnp.float32, name=name)


DEPTHWISE_IMPLS = ("auto", "conv", "shifts")


def resolve_depthwise_impl(impl: str) -> str:
  """``"auto"`` -> ``"shifts"`` on CPU, ``"conv"`` elsewhere; checks the name."""
  if impl not in DEPTHWISE_IMPLS:
    raise ValueError(f"depthwise_impl must be one of {DEPTHWISE_IMPLS}, got {impl!r}")
  if impl == "auto":
    return "shifts" if jax.default_backend() == "cpu" else "conv"
  return impl


def depthwise_conv(x: jax.Array, kernel: jax.Array, strides: int = 1,
                   dilation: int = 1, impl: str = "auto") -> jax.Array:
  """Depthwise k x k conv with SAME padding: x [N, H, W, C], kernel [k, k, 1, C].

  ``impl="conv"`` is ``lax.conv_general_dilated`` with ``feature_group_count
  = C``; ``impl="shifts"`` sums the k*k shifted (strided) slices of the
  zero-padded input times the kernel taps, in row-major tap order: the same
  function, but elementwise ops that XLA:CPU runs (and batches under vmap)
  much faster than its grouped convolution (measured 20-30x forward, 3x
  backward on CPU).
  """
  k = kernel.shape[0]
  n, h, w, c = x.shape
  if kernel.shape != (k, k, 1, c):
    raise ValueError(f"depthwise kernel must be [k, k, 1, C={c}], got {kernel.shape}")
  if resolve_depthwise_impl(impl) == "conv":
    return jax.lax.conv_general_dilated(
        x, kernel, (strides, strides), "SAME", rhs_dilation=(dilation, dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c)
  return _depthwise_shifts(x, kernel, strides, dilation)


@functools.partial(jax.checkpoint, static_argnums=(2, 3))
def _depthwise_shifts(x: jax.Array, kernel: jax.Array, strides: int,
                      dilation: int) -> jax.Array:
  # Checkpointed: the backward pass re-slices x instead of storing k*k slices.
  k = kernel.shape[0]
  n, h, w, c = x.shape
  span = (k - 1) * dilation + 1
  pads = jax.lax.padtype_to_pads((h, w), (span, span), (strides, strides), "SAME")
  padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
  out_h, out_w = -(-h // strides), -(-w // strides)
  out = None
  for i in range(k):
    for j in range(k):
      start = (0, i * dilation, j * dilation, 0)
      limit = (n, start[1] + (out_h - 1) * strides + 1,
               start[2] + (out_w - 1) * strides + 1, c)
      tap = jax.lax.slice(padded, start, limit, (1, strides, strides, 1)) * kernel[i, j, 0]
      out = tap if out is None else out + tap
  return out


class DepthwiseConv(nn.Module):
  """Depthwise k x k conv, SAME padding, no bias; kernel [k, k, 1, C] (HWIO, as nn.Conv)."""
  kernel_size: int
  strides: int = 1
  dilation: int = 1
  impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, 1, x.shape[-1]), jnp.float32)
    return depthwise_conv(x, kernel, self.strides, self.dilation, self.impl)


def pointwise(features: int, name: str) -> nn.Dense:
  """A 1x1 conv without bias, as a dense map of the channel axis (kernel [C_in, C_out])."""
  return nn.Dense(features, use_bias=False, dtype=jnp.float32,
                  param_dtype=jnp.float32, name=name)


class SeparableConv(nn.Module):
  """Pre-activation depthwise-separable conv (the ``dwconv{k}x{k}`` op, Sec. 3.4).

  ``BN(pointwise(depthwise_k(relu(x))))``: a k x k depthwise conv (SAME
  padding, no bias; see :func:`depthwise_conv`), then a 1x1 conv to
  ``features`` channels (default: the input width; no bias), then BN. With
  ``strides=2`` and ``features=2C`` it is also the network's downsampling op.

  Attributes:
    kernel_size: spatial size k of the depthwise kernel.
    features: output channels; ``None`` keeps the input width.
    strides: spatial stride of the depthwise conv.
    dilation: dilation of the depthwise conv.
    bn_momentum, bn_epsilon: BatchNorm settings.
    depthwise_impl: ``"auto"``, ``"conv"`` or ``"shifts"`` (:func:`depthwise_conv`).
  """
  kernel_size: int
  features: int | None = None
  strides: int = 1
  dilation: int = 1
  bn_momentum: float = DEFAULT_BN_MOMENTUM
  bn_epsilon: float = DEFAULT_BN_EPSILON
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    y = nn.relu(x)
    y = DepthwiseConv(self.kernel_size, self.strides, self.dilation,
                      self.depthwise_impl, name="depthwise")(y)
    y = pointwise(self.features or x.shape[-1], "pointwise")(y)
    return batch_norm(train, self.bn_momentum, self.bn_epsilon)(y)


class ConcatProjection(nn.Module):
  """The ``concat`` op at fixed width: ``BN(W_a a + W_b b)`` (Sec. 3.4).

  Equal to ``BN(conv1x1(concat([a, b], -1)))`` with the 2C x C kernel
  ``concatenate([proj_a, proj_b], axis=2)``; see the module docstring.
  """
  bn_momentum: float = DEFAULT_BN_MOMENTUM
  bn_epsilon: float = DEFAULT_BN_EPSILON

  @nn.compact
  def __call__(self, a: jax.Array, b: jax.Array, train: bool = False) -> jax.Array:
    if a.shape != b.shape:
      raise ValueError(f"concat: inputs must have the same shape, got {a.shape} "
                       f"and {b.shape}")
    channels = a.shape[-1]
    y = pointwise(channels, "proj_a")(a) + pointwise(channels, "proj_b")(b)
    return batch_norm(train, self.bn_momentum, self.bn_epsilon)(y)


class SinkProjection(nn.Module):
  """The block output for several sinks: ``BN(sum_s x_s . kernel[s])`` (Sec. 3.4).

  ``nodes`` is a sequence of ``rows`` sink nodes float32[N, H, W, C];
  ``kernel`` is float32[rows, C, C]. Equal to a 1x1 conv of the channel
  concatenation of the sinks followed by BN. The terms are summed in order,
  as the dynamic block's scan accumulates them.
  """
  rows: int
  bn_momentum: float = DEFAULT_BN_MOMENTUM
  bn_epsilon: float = DEFAULT_BN_EPSILON

  @nn.compact
  def __call__(self, nodes, train: bool = False) -> jax.Array:
    if len(nodes) != self.rows:
      raise ValueError(f"SinkProjection expects {self.rows} sink nodes, got {len(nodes)}")
    channels = nodes[0].shape[-1]
    init = nn.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
    kernel = self.param("kernel", init, (self.rows, channels, channels),
                        jnp.float32)
    y = project_pointwise(nodes[0], kernel[0])
    for s in range(1, self.rows):
      y = y + project_pointwise(nodes[s], kernel[s])
    return batch_norm(train, self.bn_momentum, self.bn_epsilon)(y)


def project_pointwise(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``x . kernel`` over channels: a 1x1 conv without bias, [N, H, W, C] x [C, D]."""
  return jnp.einsum("nhwc,cd->nhwd", x, kernel)


def max_pool(x: jax.Array, kernel_size: int) -> jax.Array:
  """Max pooling k x k, stride 1, SAME padding (pads with -inf)."""
  k = kernel_size
  return nn.max_pool(x, (k, k), strides=(1, 1), padding="SAME")


def avg_pool(x: jax.Array, kernel_size: int) -> jax.Array:
  """Average pooling k x k, stride 1, SAME padding, mean over valid pixels only."""
  k = kernel_size
  return nn.avg_pool(x, (k, k), strides=(1, 1), padding="SAME",
                     count_include_pad=False)


def check_supported(spec: OpSpec) -> None:
  """Raises ValueError if ``spec``'s kind has no implementation here."""
  if spec.kind not in SUPPORTED_KINDS:
    raise ValueError(f"op {spec.name!r} has kind {spec.kind!r}, which irlas_jax.nn "
                     f"does not implement (supported kinds: "
                     f"{', '.join(SUPPORTED_KINDS)})")


def is_parameterised(spec: OpSpec) -> bool:
  """Whether the op holds weights (and BN statistics) of its own."""
  check_supported(spec)
  return spec.kind in PARAMETERISED_KINDS


def make_op_module(spec: OpSpec, bn_momentum: float = DEFAULT_BN_MOMENTUM,
                   bn_epsilon: float = DEFAULT_BN_EPSILON,
                   depthwise_impl: str = "auto",
                   name: str | None = None) -> nn.Module | None:
  """The parameter-holding module of op ``spec``, or ``None`` if it has none."""
  check_supported(spec)
  if spec.kind == "dwconv":
    return SeparableConv(spec.kernel, dilation=spec.dilation,
                         bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                         depthwise_impl=depthwise_impl, name=name)
  if spec.kind == "concat":
    return ConcatProjection(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                            name=name)
  return None


def apply_op(spec: OpSpec, module: nn.Module | None, a: jax.Array, b: jax.Array,
             train: bool = False) -> jax.Array:
  """Output of a layer with op ``spec`` on inputs ``a`` (pred1) and ``b`` (pred2).

  ``module`` is the op's :func:`make_op_module` (``None`` for parameter-free
  ops); ``b`` is ignored by one-input ops.
  """
  check_supported(spec)
  if spec.kind == "dwconv":
    return module(a, train)
  if spec.kind == "concat":
    return module(a, b, train)
  if spec.kind == "maxpool":
    return max_pool(a, spec.kernel)
  if spec.kind == "avgpool":
    return avg_pool(a, spec.kernel)
  if spec.kind == "identity":
    return a
  return a + b  # add
