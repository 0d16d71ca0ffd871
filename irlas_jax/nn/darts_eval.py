"""The DARTS evaluation network for a derived genotype (DARTS' NetworkCIFAR; Table 1).

Used to train IRLAS-differential's genotype from scratch (Sec. 4.2, Table 1):
20 cells, C = 36, an auxiliary head and drop-path, as in DARTS' evaluation
(``model.py``), the cells built from a :class:`~irlas_jax.spaces.darts.Genotype`.

* stem: 3x3 conv to ``stem_multiplier * C`` (3C) channels, BN;
* cells: the cells at ``layers // 3`` and ``2 * layers // 3`` are reduction
  cells (channels doubled, the genotype's ``reduce`` cell, stride 2 on edges
  from the cell inputs); each cell preprocesses ``c_{k-2}`` (factorized
  reduce after a reduction cell, else ReLU-1x1 conv-BN) and ``c_{k-1}``
  (ReLU-1x1 conv-BN) to C, sums its two edges per node, and concatenates the
  genotype's concat nodes;
* ops: those of :mod:`irlas_jax.nn.darts` (sep/dil convs, pools without BN,
  identity or factorized reduce), with affine BN that keeps running
  statistics (Flax ``batch_stats``; batch statistics when ``train``);
* drop-path (DARTS): in training, each edge output that is not an identity
  ``skip_connect`` is zeroed per example with probability ``drop_path_prob``
  and otherwise scaled by ``1 / (1 - drop_path_prob)``; it draws from the
  ``"dropout"`` RNG stream (without one, training with a positive
  probability is a ValueError). DARTS raises the probability linearly over
  training (``drop_path_prob * epoch / epochs``): pass the current value as
  the ``drop_path_prob`` call argument (a traced scalar: no recompile);
* auxiliary head (DARTS' ``AuxiliaryHeadCIFAR``) on the output of cell
  ``2 * layers // 3``, in training only: ReLU, 5x5 average pool with stride 3
  (valid pixels only), 1x1 conv to 128, BN, ReLU, 2x2 conv to 768 (valid),
  BN, ReLU, linear. DARTS adds its loss with weight 0.4 (the trainer's job);
* classifier: global average pooling, linear.

``__call__(x, train, drop_path_prob=None) -> (logits, aux_logits)``;
``aux_logits`` is None unless ``train`` and ``auxiliary``. Call
``apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout":
key})`` in training.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from irlas_jax.nn.darts import EdgeOp, FactorizedReduce, Norm, ReLUConvBN, reduction_cells
from irlas_jax.spaces.darts import Genotype

_TRACK = dict(affine=True, track_running_stats=True)


def drop_path(key: jax.Array, x: jax.Array, drop_prob) -> jax.Array:
  """Zeroes each example with probability ``drop_prob``, scales the rest by 1/keep."""
  keep = 1.0 - drop_prob
  mask = jax.random.bernoulli(key, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
  return jnp.where(mask, x / keep, 0.0)


class EvalCell(nn.Module):
  """A cell of a fixed genotype (normal or reduction)."""
  edges: tuple[tuple[str, int], ...]
  concat: tuple[int, ...]
  features: int
  reduction: bool
  reduction_prev: bool
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, s0, s1, train: bool, drop_prob):
    c = self.features
    if self.reduction_prev:
      s0 = FactorizedReduce(c, **_TRACK, name="preprocess0")(s0, train)
    else:
      s0 = ReLUConvBN(c, **_TRACK, name="preprocess0")(s0, train)
    s1 = ReLUConvBN(c, **_TRACK, name="preprocess1")(s1, train)
    states = [s0, s1]
    for i in range(len(self.edges) // 2):
      node = None
      for e in (2 * i, 2 * i + 1):
        op, j = self.edges[e]
        strides = 2 if self.reduction and j < 2 else 1
        h = EdgeOp(op, c, strides, **_TRACK, depthwise_impl=self.depthwise_impl,
                   name=f"edge_{e}")(states[j][..., None, :], train)[..., 0, :]
        if train and self.has_rng("dropout") and not (op == "skip_connect"
                                                     and strides == 1):
          h = drop_path(self.make_rng("dropout"), h, drop_prob)
        node = h if node is None else node + h
      states.append(node)
    return jnp.concatenate([states[k] for k in self.concat], axis=-1)


class AuxiliaryHead(nn.Module):
  """DARTS' AuxiliaryHeadCIFAR (for its 8x8 input: 32x32 images, two reductions)."""
  num_classes: int

  @nn.compact
  def __call__(self, x, train: bool):
    y = nn.avg_pool(nn.relu(x), (5, 5), (3, 3), padding="VALID")
    y = nn.Dense(128, use_bias=False, name="conv1")(y)
    y = nn.relu(Norm(**_TRACK, name="bn1")(y, train))
    y = nn.Conv(768, (2, 2), padding="VALID", use_bias=False, name="conv2")(y)
    y = nn.relu(Norm(**_TRACK, name="bn2")(y, train))
    return nn.Dense(self.num_classes, name="classifier")(y.reshape(y.shape[0], -1))


class DartsEvalNetwork(nn.Module):
  """DARTS' evaluation network for ``genotype`` (module docstring).

  Attributes:
    genotype: the architecture (normal and reduction cell).
    num_classes: classifier outputs.
    channels: C (36 for CIFAR-10, DARTS).
    layers: number of cells (20).
    auxiliary: build the auxiliary head (used when ``train``).
    drop_path_prob: default drop-path probability (0.2 in DARTS' final
      training), overridden by the call argument.
    stem_multiplier: the stem has ``stem_multiplier * C`` channels (3).
  """
  genotype: Genotype
  num_classes: int = 10
  channels: int = 36
  layers: int = 20
  auxiliary: bool = True
  drop_path_prob: float = 0.2
  stem_multiplier: int = 3
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, drop_path_prob=None):
    if x.ndim != 4:
      raise ValueError(f"images must be [N, H, W, C], got shape {x.shape}")
    if drop_path_prob is None:
      drop_path_prob = self.drop_path_prob
    if (train and not self.has_rng("dropout") and isinstance(drop_path_prob, float)
        and drop_path_prob > 0):
      raise ValueError(f"drop_path_prob={drop_path_prob} in training needs a dropout "
                       f"key: apply(..., rngs={{'dropout': key}})")
    drop_prob = jnp.asarray(drop_path_prob, jnp.float32)
    g = self.genotype
    c = self.channels
    s = nn.Conv(self.stem_multiplier * c, (3, 3), padding="SAME", use_bias=False,
                name="stem_conv")(x)
    s = Norm(**_TRACK, name="stem_bn")(s, train)
    s0 = s1 = s
    reductions = reduction_cells(self.layers)
    aux_at = 2 * self.layers // 3
    reduction_prev = False
    aux_logits = None
    for i in range(self.layers):
      reduction = i in reductions
      if reduction:
        c *= 2
      edges, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
      out = EvalCell(edges, concat, c, reduction, reduction_prev, self.depthwise_impl,
                     name=f"cell_{i}")(s0, s1, train, drop_prob)
      s0, s1 = s1, out
      reduction_prev = reduction
      # The head's parameters exist whatever ``train`` is at init.
      if i == aux_at and self.auxiliary and (train or self.is_initializing()):
        aux = AuxiliaryHead(self.num_classes, name="auxiliary_head")(s1, train)
        aux_logits = aux if train else None
    logits = nn.Dense(self.num_classes, name="classifier")(jnp.mean(s1, axis=(1, 2)))
    return logits, aux_logits
