"""State features phi(s_t) and the discounted feature count mu (Sec. 3.2, Eq. 2).

The paper's state feature of layer ``t`` is "operation type, kernel size, and
the indexes of two predecessors" (Sec. 3.2). How those four numbers are
encoded decides what a *linear* reward ``w . phi`` can express, so the
encoding is a choice (config ``encoding``), one registered function each:

``paper``
    the literal reading: four scalars (op kind, kernel size, pred1, pred2);
    the op kind is ``1 + index in opset.kinds``.
``onehot``
    one-hot op kind, one-hot kernel size (no bit for ops without a kernel),
    one-hot absolute pred1 and pred2.
``onehot_relative``
    one-hot op, one-hot ``node(t) - pred1`` and ``node(t) - pred2`` (how far
    back each input reaches); shift-invariant.
``positional``
    one-hot of the pair (t, op), plus the relative preds of
    ``onehot_relative``.
``relative_depth``
    ``onehot_relative`` plus a one-hot of the layer index t, not crossed with
    the op.

In every one-hot encoding the second pred slot is all zeros for a one-input
op (the op's arity, not the value 0, says there is no second input); the
``paper`` encoding keeps the literal ``pred2 = 0``. Rows past the block
length are zero in every encoding.

Why position matters: under a linear reward and a position-independent
encoding (``onehot``, ``onehot_relative``, ``paper``), a layer that scores
well scores well at every index, so repeating it up to ``t_max`` always beats
stopping; no short block (the 3-layer expert) can then be the optimum of the
reward, and ``lam * F`` would push a search toward long blocks. Only an
encoding with position (``positional``, ``relative_depth``) can make the
expert "the highest" (Sec. 3.3). ``relative_depth`` adds position while its
op and connection features stay shift-invariant, which is what the Sec. 4.3
analysis (small edits change F little) asks for. It is the default here; the
IRL fit confirms that choice with measurements.

A new encoding is one function ``f(op, t, pred, opset, t_max) -> [t_max, k]``
registered with :func:`register_encoding`; everything downstream (the MSF,
IRL, the search) takes it by name.

All functions are pure jnp, jit-able (the encoding name is static) and take
one block or a batch (leading axes are vmapped).
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp

from irlas_jax.spaces.block import Block
from irlas_jax.spaces.opset import OpSet

DEFAULT_ENCODING = "relative_depth"
DEFAULT_GAMMA = 0.9  # Sec. 3.2 leaves gamma open; 0.9 is the paper's Q-learning discount.

# f(op[t_max], t[t_max], pred[t_max, 2], opset, t_max) -> float32[t_max, k].
EncodingFn = Callable[[jax.Array, jax.Array, jax.Array, OpSet, int], jax.Array]


@dataclasses.dataclass(frozen=True)
class Encoding:
  """A registered state-feature encoding."""
  name: str
  fn: EncodingFn
  dim: Callable[[OpSet, int], int]
  names: Callable[[OpSet, int], list[str]]
  doc: str = ""


_ENCODINGS: dict[str, Encoding] = {}


def register_encoding(name: str, names: Callable[[OpSet, int], list[str]],
                      doc: str = ""):
  """Decorator registering ``fn(op, t, pred, opset, t_max) -> [t_max, k]``.

  ``names(opset, t_max)`` labels the k features (for printing and plots);
  its length is the feature dimension.
  """
  def decorator(fn: EncodingFn) -> EncodingFn:
    if name in _ENCODINGS:
      raise ValueError(f"encoding {name!r} is already registered")
    dim = lambda opset, t_max: len(names(opset, t_max))
    _ENCODINGS[name] = Encoding(name, fn, dim, names, doc)
    return fn
  return decorator


def encodings() -> tuple[str, ...]:
  """Names of the registered encodings."""
  return tuple(_ENCODINGS)


def get_encoding(name: str) -> Encoding:
  if name not in _ENCODINGS:
    raise ValueError(f"unknown feature encoding {name!r}; known encodings: "
                     f"{', '.join(encodings())}")
  return _ENCODINGS[name]


def feature_dim(encoding: str, opset: OpSet, t_max: int) -> int:
  """Length k of phi under ``encoding`` for blocks of ``opset`` and ``t_max``."""
  return get_encoding(encoding).dim(opset, t_max)


def feature_names(encoding: str, opset: OpSet, t_max: int) -> list[str]:
  """A label for each of the k features, e.g. ``"op=add"``, ``"t-pred2=3"``."""
  return list(get_encoding(encoding).names(opset, t_max))


# -- building blocks of the encodings -----------------------------------------

def _num_preds(opset: OpSet, t_max: int) -> int:
  """Number of values an (absolute) pred index can take."""
  return opset.num_nodes(t_max) - 1


def _num_distances(opset: OpSet, t_max: int) -> int:
  """Number of values ``node(t) - pred`` can take (1 .. node(t_max))."""
  return opset.node(t_max)


def _op_names(opset: OpSet) -> list[str]:
  return [f"op={op.name}" for op in opset.ops]


def _relative_names(opset: OpSet, t_max: int) -> list[str]:
  return [f"t-pred{slot}={d}" for slot in (1, 2)
          for d in range(1, _num_distances(opset, t_max) + 1)]


def _depth_names(t_max: int) -> list[str]:
  return [f"t={t}" for t in range(1, t_max + 1)]


def _second_input(op, opset: OpSet):
  """Whether each layer's op reads a second input."""
  return jnp.asarray(opset.arity_table)[op] == 2


def _relative_preds(op, t, pred, opset: OpSet, t_max: int):
  node = opset.num_inputs - 1 + t
  n = _num_distances(opset, t_max)
  d1 = jax.nn.one_hot(node - pred[:, 0] - 1, n)
  d2 = jax.nn.one_hot(jnp.where(_second_input(op, opset), node - pred[:, 1] - 1, -1), n)
  return jnp.concatenate([d1, d2], axis=-1)


def _onehot_op(op, opset: OpSet):
  return jax.nn.one_hot(jnp.where(op < opset.num_ops, op, -1), opset.num_ops)


# -- the five encodings --------------------------------------------------------

@register_encoding("paper",
                   names=lambda opset, t_max: ["kind", "kernel", "pred1", "pred2"],
                   doc="op kind, kernel size, pred1, pred2 as scalars")
def _paper(op, t, pred, opset, t_max):
  del t, t_max
  kind = jnp.asarray(opset.kind_table)[op]
  kernel = jnp.asarray(opset.kernel_table)[op]
  return jnp.stack([kind, kernel, pred[:, 0], pred[:, 1]], axis=-1).astype(jnp.float32)


@register_encoding(
    "onehot",
    names=lambda opset, t_max: (
        [f"kind={k}" for k in opset.kinds]
        + [f"kernel={k}" for k in opset.kernel_sizes]
        + [f"pred{slot}={p}" for slot in (1, 2)
           for p in range(_num_preds(opset, t_max))]),
    doc="one-hot op kind and kernel, one-hot absolute preds")
def _onehot(op, t, pred, opset, t_max):
  del t
  kind = jax.nn.one_hot(jnp.asarray(opset.kind_table)[op] - 1, len(opset.kinds))
  kernel = jax.nn.one_hot(jnp.asarray(opset.kernel_index_table)[op] - 1,
                          len(opset.kernel_sizes))
  n = _num_preds(opset, t_max)
  p1 = jax.nn.one_hot(pred[:, 0], n)
  p2 = jax.nn.one_hot(jnp.where(_second_input(op, opset), pred[:, 1], -1), n)
  return jnp.concatenate([kind, kernel, p1, p2], axis=-1)


@register_encoding(
    "onehot_relative",
    names=lambda opset, t_max: _op_names(opset) + _relative_names(opset, t_max),
    doc="one-hot op, one-hot t - pred1 and t - pred2")
def _onehot_relative(op, t, pred, opset, t_max):
  return jnp.concatenate([_onehot_op(op, opset),
                          _relative_preds(op, t, pred, opset, t_max)], axis=-1)


@register_encoding(
    "positional",
    names=lambda opset, t_max: (
        [f"t={t},op={op.name}" for t in range(1, t_max + 1) for op in opset.ops]
        + _relative_names(opset, t_max)),
    doc="one-hot (t, op) plus relative preds")
def _positional(op, t, pred, opset, t_max):
  position = jax.nn.one_hot(t - 1, t_max)
  t_op = (position[:, :, None] * _onehot_op(op, opset)[:, None, :]).reshape(
      t.shape[0], t_max * opset.num_ops)
  return jnp.concatenate([t_op, _relative_preds(op, t, pred, opset, t_max)], axis=-1)


@register_encoding(
    "relative_depth",
    names=lambda opset, t_max: (_op_names(opset) + _relative_names(opset, t_max)
                                + _depth_names(t_max)),
    doc="onehot_relative plus one-hot t")
def _relative_depth(op, t, pred, opset, t_max):
  return jnp.concatenate([_onehot_relative(op, t, pred, opset, t_max),
                          jax.nn.one_hot(t - 1, t_max)], axis=-1)


# -- phi and mu ----------------------------------------------------------------

def _over_batch(fn):
  """Lets ``fn(block, ...)`` take a batch of blocks (any leading axes)."""
  @functools.wraps(fn)
  def wrapped(block: Block, *args, **kwargs):
    if not isinstance(block, Block):
      raise ValueError(f"expected a Block, got {type(block).__name__}")
    f = lambda b: fn(b, *args, **kwargs)
    for _ in block.batch_shape:
      f = jax.vmap(f)
    return f(block)
  return wrapped


@functools.partial(jax.jit, static_argnames=("encoding",))
@_over_batch
def phi(block: Block, encoding: str = DEFAULT_ENCODING) -> jax.Array:
  """State features of every layer slot: float32[..., t_max, k] (Sec. 3.2).

  Row ``t - 1`` is phi(s_t) for ``t <= length`` and zero on padding.
  """
  chex.assert_rank([block.op, block.pred, block.length], [1, 2, 0])
  t_max = block.t_max
  fn = get_encoding(encoding).fn
  t = jnp.arange(1, t_max + 1)
  features = fn(block.op, t, block.pred, block.opset, t_max).astype(jnp.float32)
  chex.assert_shape(features, (t_max, feature_dim(encoding, block.opset, t_max)))
  return jnp.where((t <= block.length)[:, None], features, 0.0)


@functools.partial(jax.jit, static_argnames=("encoding",))
@_over_batch
def feature_count(block: Block, gamma: float = DEFAULT_GAMMA,
                  encoding: str = DEFAULT_ENCODING) -> jax.Array:
  """Discounted feature count mu = sum_{t=1}^T gamma^t phi(s_t) (Eq. 2).

  Returns float32[..., k]; ``F = w . mu`` is the mirror stimuli function
  (Eq. 3).
  """
  discount = jnp.asarray(gamma, jnp.float32) ** jnp.arange(1, block.t_max + 1)
  return discount @ phi(block, encoding)
