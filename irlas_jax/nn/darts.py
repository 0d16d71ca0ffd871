"""DARTS ops and the search supernet in Flax (Liu et al., ICLR 2019; Sec. 3.5).

The ops follow the DARTS reference implementation (``operations.py``):

* ``sep_conv_kxk``: (ReLU, depthwise k x k with the stride, pointwise,
  BN) twice, the second unit with stride 1; ``dil_conv_kxk``: ReLU,
  depthwise k x k with dilation 2 and the stride, pointwise, BN;
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3 x 3, SAME padding, the stride;
  average pooling counts valid pixels only (``count_include_pad=False``);
  in the supernet a pool is followed by a BN without affine parameters
  (DARTS' ``MixedOp``);
* ``skip_connect``: the identity, or at stride 2 the factorized reduce
  (ReLU, two 1x1 stride-2 convs, the second on the input shifted by one
  pixel, concatenated, BN);
* ``none``: zero. In a mixed op its output is ``w_none * 0 = 0``, so it is
  not computed at all: the forward and every gradient are the same (alpha's
  ``none`` column still enters the softmax that weights the other ops).
* every conv has no bias; 1x1 convs are dense maps of the channel axis and
  depthwise convs use :func:`irlas_jax.nn.ops.depthwise_conv` (its CPU
  "shifts" implementation on CPU).

BatchNorm: the supernet's BNs have no affine parameters (DARTS' search
setting) and always normalise with the statistics of the batch they see,
in the weight step, in the alpha step and when the supernet's validation
accuracy is measured (PyTorch's ``track_running_stats=False``). So the
supernet is a pure function ``logits = f(weights, alpha, images)`` with no
mutable state, and the second-order update's perturbed and unrolled
weights need no BN bookkeeping. The stem's BN has scale and bias (DARTS).

The search network (:class:`DartsSearchNetwork`): a 3x3 conv stem to
``stem_multiplier * C`` channels with BN, then ``layers`` cells, the cells
at ``layers // 3`` and ``2 * layers // 3`` being reduction cells (stride 2 on
the edges from the cell inputs, channels doubled), each cell preprocessing
its inputs to C channels (factorized reduce after a reduction cell, else
ReLU-1x1 conv-BN), then ``steps`` nodes, each the sum of the mixed ops on
every earlier node, and the concat of the last ``multiplier`` nodes; global
average pooling and a linear classifier. Alpha is an *input* of the
network (``alphas = {"normal": [14, 8], "reduce": [14, 8]}`` logits), never
one of its parameters, so the weights and alpha are separate pytrees.
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from irlas_jax.nn.ops import depthwise_conv
from irlas_jax.spaces.darts import MULTIPLIER, PRIMITIVES, STEPS, num_edges

BN_MOMENTUM = 0.9  # = 1 - PyTorch's 0.1
BN_EPSILON = 1e-5


class Norm(nn.Module):
  """BatchNorm over (N, H, W) of [N, H, W, ...] (features: the trailing axes).

  ``track_running_stats=False`` (the supernet): always the batch's own
  statistics, no state. ``True`` (the evaluation network): Flax BatchNorm,
  batch statistics and a running average when ``train``, the running average
  otherwise.
  """
  affine: bool = True
  track_running_stats: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    features = tuple(range(3, x.ndim))
    if self.track_running_stats:
      return nn.BatchNorm(use_running_average=not train, axis=features,
                          momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                          use_scale=self.affine, use_bias=self.affine, name="bn")(x)
    mean = jnp.mean(x, axis=(0, 1, 2))
    var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
    y = (x - mean) * jax.lax.rsqrt(var + BN_EPSILON)
    if self.affine:
      y = y * self.param("scale", nn.initializers.ones, x.shape[3:]) \
          + self.param("bias", nn.initializers.zeros, x.shape[3:])
    return y


# -- edge groups ------------------------------------------------------------------
#
# XLA compile time grows with the number of ops in the program, and a
# supernet cell has 14 edges times 7 ops. So the edges of a node that read
# inputs of one shape and stride form a *group* computed by one set of ops:
# a group is a tensor [N, H, W, E, C] (E edges), every parameter has a
# leading (or, for depthwise kernels, channel-folded) edge axis, depthwise
# convs run on the [N, H, W, E * C] view (depthwise convs, pools, ReLU and
# BN act per channel, so folding edges into channels changes nothing), and
# pointwise convs are one batched matmul over the edge axis. A group of one
# edge is an ordinary op (the evaluation network).


class _Depthwise(nn.Module):
  """Depthwise k x k conv of every edge of a group: [N, H, W, E, C] -> same."""
  kernel_size: int
  strides: int = 1
  dilation: int = 1
  impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    n, h, w, e, c = x.shape
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, 1, e * c))
    y = depthwise_conv(x.reshape(n, h, w, e * c), kernel, self.strides,
                       self.dilation, self.impl)
    return y.reshape(y.shape[:3] + (e, c))


class _Pointwise(nn.Module):
  """1x1 conv (no bias) of every edge: [N, H, W, E, C] -> [N, H, W, E, D]."""
  features: int

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
    kernel = self.param("kernel", init, (x.shape[3], x.shape[4], self.features))
    return jnp.einsum("nhwec,ecd->nhwed", x, kernel)


class DilConv(nn.Module):
  """ReLU, depthwise k x k (dilation, stride), pointwise, BN (an edge group)."""
  features: int
  kernel_size: int
  strides: int = 1
  dilation: int = 2
  affine: bool = True
  track_running_stats: bool = False
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool = True):
    y = _Depthwise(self.kernel_size, self.strides, self.dilation, self.depthwise_impl,
                   name="depthwise")(nn.relu(x))
    y = _Pointwise(self.features, name="pointwise")(y)
    return Norm(self.affine, self.track_running_stats)(y, train)


class SepConv(nn.Module):
  """Two DilConv units with dilation 1, the stride on the first (an edge group)."""
  features: int
  kernel_size: int
  strides: int = 1
  affine: bool = True
  track_running_stats: bool = False
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool = True):
    common = dict(affine=self.affine, track_running_stats=self.track_running_stats,
                  depthwise_impl=self.depthwise_impl)
    y = DilConv(x.shape[-1], self.kernel_size, self.strides, 1, **common,
                name="unit_1")(x, train)
    return DilConv(self.features, self.kernel_size, 1, 1, **common,
                   name="unit_2")(y, train)


class FactorizedReduce(nn.Module):
  """ReLU, two 1x1 stride-2 convs (the second on x shifted by a pixel), concat, BN.

  Takes an edge group [N, H, W, E, C] or a plain [N, H, W, C] tensor.
  """
  features: int
  affine: bool = True
  track_running_stats: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    if self.features % 2:
      raise ValueError(f"FactorizedReduce: features must be even, got {self.features}")
    plain = x.ndim == 4
    y = nn.relu(x[..., None, :] if plain else x)
    a = _Pointwise(self.features // 2, name="conv_1")(y[:, ::2, ::2])
    shifted = jnp.pad(y[:, 1:, 1:], ((0, 0), (0, 1), (0, 1), (0, 0), (0, 0)))
    b = _Pointwise(self.features // 2, name="conv_2")(shifted[:, ::2, ::2])
    out = Norm(self.affine, self.track_running_stats)(jnp.concatenate([a, b], -1), train)
    return out[..., 0, :] if plain else out


class ReLUConvBN(nn.Module):
  """ReLU, k x k conv (no bias), BN on [N, H, W, C]: cell-input preprocessing (k = 1)."""
  features: int
  kernel_size: int = 1
  strides: int = 1
  affine: bool = True
  track_running_stats: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    k = self.kernel_size
    y = nn.relu(x)
    if k == 1 and self.strides == 1:
      y = nn.Dense(self.features, use_bias=False, name="conv")(y)
    else:
      y = nn.Conv(self.features, (k, k), (self.strides,) * 2, padding="SAME",
                  use_bias=False, name="conv")(y)
    return Norm(self.affine, self.track_running_stats)(y, train)


def _pool(x, kind: str, strides: int):
  n, h, w, e, c = x.shape
  y = x.reshape(n, h, w, e * c)
  if kind == "max_pool_3x3":
    y = nn.max_pool(y, (3, 3), (strides, strides), padding="SAME")
  else:
    y = nn.avg_pool(y, (3, 3), (strides, strides), padding="SAME",
                    count_include_pad=False)
  return y.reshape(y.shape[:3] + (e, c))


class EdgeOp(nn.Module):
  """One DARTS op (a name of :data:`PRIMITIVES`) on an edge group [N, H, W, E, C].

  ``pool_bn``: a BN without affine after pools (the supernet's MixedOp);
  the evaluation network has none.
  """
  primitive: str
  features: int
  strides: int = 1
  affine: bool = True
  track_running_stats: bool = False
  pool_bn: bool = False
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool = True):
    p, c, s = self.primitive, self.features, self.strides
    norm = dict(affine=self.affine, track_running_stats=self.track_running_stats)
    conv = dict(norm, depthwise_impl=self.depthwise_impl)
    if p == "none":
      return jnp.zeros_like(x[:, ::s, ::s])
    if p in ("max_pool_3x3", "avg_pool_3x3"):
      y = _pool(x, p, s)
      if self.pool_bn:
        y = Norm(False, self.track_running_stats, name="pool_bn")(y, train)
      return y
    if p == "skip_connect":
      return x if s == 1 else FactorizedReduce(c, **norm, name="reduce")(x, train)
    if p.startswith("sep_conv_"):
      return SepConv(c, int(p[-1]), s, **conv, name="op")(x, train)
    if p.startswith("dil_conv_"):
      return DilConv(c, int(p[-1]), s, 2, **conv, name="op")(x, train)
    raise ValueError(f"unknown DARTS op {p!r}; known: {', '.join(PRIMITIVES)}")


class MixedOp(nn.Module):
  """Mixed ops of an edge group: ``sum_e sum_k softmax(alpha_e)_k op_k(x_e)``.

  ``x``: [N, H, W, E, C], the inputs of E edges that end in one node;
  ``weights``: [E, P], each edge's softmax(alpha) over ``primitives``.
  Returns [N, H', W', features], the edges' contribution to the node. The
  ``none`` op is skipped (its output is zero; module docstring).
  """
  features: int
  strides: int = 1
  primitives: tuple[str, ...] = PRIMITIVES
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x, weights, train: bool = True):
    if x.ndim != 5 or weights.shape != (x.shape[3], len(self.primitives)):
      raise ValueError(f"MixedOp: x must be [N, H, W, E, C] and weights [E, "
                       f"{len(self.primitives)}], got {x.shape} and {weights.shape}")
    s = self.strides
    out = jnp.zeros(x[:, ::s, ::s, 0, :1].shape[:3] + (self.features,), x.dtype)
    for k, p in enumerate(self.primitives):
      if p == "none":
        continue
      y = EdgeOp(p, self.features, s, affine=False, pool_bn=True,
                 depthwise_impl=self.depthwise_impl, name=p)(x, train)
      out = out + jnp.einsum("nhwec,e->nhwc", y, weights[:, k])
    return out


class SearchCell(nn.Module):
  """A supernet cell: every node sums the mixed ops on all earlier nodes.

  ``weights``: [num_edges, P] (DARTS edge order: node 0's two edges, then
  node 1's three, ...). The edges of a node form one group, or two in a
  reduction cell (the stride-2 edges from the cell inputs, the stride-1
  edges from earlier nodes).
  """
  features: int
  reduction: bool
  reduction_prev: bool
  steps: int = STEPS
  multiplier: int = MULTIPLIER
  primitives: tuple[str, ...] = PRIMITIVES
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, s0, s1, weights, train: bool = True):
    c = self.features
    if self.reduction_prev:
      s0 = FactorizedReduce(c, affine=False, name="preprocess0")(s0, train)
    else:
      s0 = ReLUConvBN(c, affine=False, name="preprocess0")(s0, train)
    s1 = ReLUConvBN(c, affine=False, name="preprocess1")(s1, train)
    states = [s0, s1]
    offset = 0
    for i in range(self.steps):
      n_in = i + 2
      split = 2 if self.reduction else 0  # edges [0, split) have stride 2
      node = None
      for lo, hi, strides, tag in ((0, split, 2, "r"), (split, n_in, 1, "")):
        if hi <= lo:
          continue
        group = jnp.stack(states[lo:hi], axis=3)
        y = MixedOp(c, strides, self.primitives, self.depthwise_impl,
                    name=f"node_{i}{tag}")(group, weights[offset + lo: offset + hi], train)
        node = y if node is None else node + y
      states.append(node)
      offset += n_in
    return jnp.concatenate(states[-self.multiplier:], axis=-1)


def reduction_cells(layers: int) -> tuple[int, ...]:
  """Indices of the reduction cells: ``layers // 3`` and ``2 * layers // 3`` (DARTS)."""
  return tuple(sorted({layers // 3, 2 * layers // 3}))


class DartsSearchNetwork(nn.Module):
  """The DARTS supernet: ``__call__(x, alphas, train) -> logits``.

  Attributes:
    num_classes: classifier outputs.
    channels: C, the initial channel count (16 in DARTS' search).
    layers: number of cells (8 in DARTS' search).
    steps: intermediate nodes per cell (4).
    multiplier: nodes concatenated into a cell's output (4).
    stem_multiplier: the stem has ``stem_multiplier * C`` channels (3).
    primitives: the candidate ops; ``alphas[*]`` has one column per entry.
    depthwise_impl: see :func:`irlas_jax.nn.ops.depthwise_conv`.
  """
  num_classes: int = 10
  channels: int = 16
  layers: int = 8
  steps: int = STEPS
  multiplier: int = MULTIPLIER
  stem_multiplier: int = 3
  primitives: tuple[str, ...] = PRIMITIVES
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, alphas: Mapping[str, jax.Array],
               train: bool = True) -> jax.Array:
    shape = (num_edges(self.steps), len(self.primitives))
    for cell in ("normal", "reduce"):
      if cell not in alphas or alphas[cell].shape != shape:
        raise ValueError(f"alphas[{cell!r}] must have shape {shape}, got "
                         f"{getattr(alphas.get(cell), 'shape', None)}")
    if x.ndim != 4:
      raise ValueError(f"images must be [N, H, W, C], got shape {x.shape}")
    c = self.channels
    s = nn.Conv(self.stem_multiplier * c, (3, 3), padding="SAME", use_bias=False,
                name="stem_conv")(x)
    s = Norm(True, name="stem_bn")(s, train)
    s0 = s1 = s
    reductions = reduction_cells(self.layers)
    reduction_prev = False
    weights = {k: jax.nn.softmax(v, axis=-1) for k, v in alphas.items()}
    for i in range(self.layers):
      reduction = i in reductions
      if reduction:
        c *= 2
      out = SearchCell(c, reduction, reduction_prev, self.steps, self.multiplier,
                       self.primitives, self.depthwise_impl, name=f"cell_{i}")(
                           s0, s1, weights["reduce" if reduction else "normal"], train)
      s0, s1 = s1, out
      reduction_prev = reduction
    y = jnp.mean(s1, axis=(1, 2))
    return nn.Dense(self.num_classes, name="classifier")(y)


def init_alphas(key: jax.Array, steps: int = STEPS,
                num_primitives: int = len(PRIMITIVES), scale: float = 1e-3
                ) -> dict[str, jax.Array]:
  """DARTS' alpha initialisation: ``scale * N(0, 1)``, one [edges, ops] array per cell."""
  k_normal, k_reduce = jax.random.split(key)
  shape = (num_edges(steps), num_primitives)
  return {"normal": scale * jax.random.normal(k_normal, shape),
          "reduce": scale * jax.random.normal(k_reduce, shape)}
