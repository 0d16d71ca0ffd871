"""Proxy training of one network: F_accuracy (Sec. 3.1, 4.1).

``make_train_fn(apply_fn, settings)`` returns a pure function

    train(key, block, variables, num_steps, images, labels, val_images,
          val_labels) -> (accuracy, loss)

that trains the network from ``variables`` for ``num_steps`` steps of Adam
on shuffled minibatches (optionally augmented) and returns the validation
accuracy in percent and the final training loss. The loop is a
``fori_loop`` whose bound is an argument, so one compiled program serves any
budget (the evaluator's cost model times 2 and 6 steps with the program it
then uses); ``block`` is an argument (ignored by a static network), so the
same function is vmapped or ``lax.map``-ped over architectures for the
dynamic network.

Decisions:

* Initial variables always come from the *dynamic* network's ``init``
  (mapped to the static layout for a static network; see
  :mod:`irlas_jax.evaluate.proxy`), with a key derived from the block's
  canonical hash: a block gets the same initial weights, the same data order
  and hence (up to float rounding) the same accuracy in every evaluator
  mode, whatever else is in its batch.
* Divergence: a non-finite loss or non-finite weights at the end give
  accuracy ``nan``; the evaluator turns that into 0 with a warning. Nothing
  couples architectures (no global-norm clipping across a stacked tree).
* Validation is the whole validation split in fixed-size padded batches,
  masked (so no example is dropped and shapes never change).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from irlas_jax import data as data_lib


@dataclasses.dataclass(frozen=True)
class TrainSettings:
  """Static settings of proxy training (hashable: a jit static argument)."""
  epochs: int = 12  # Sec. 4.1: "trained with fixed 12 epochs"
  batch_size: int = 64
  learning_rate: float = 1e-3  # Adam, BlockQNN's practice
  eval_batch_size: int = 256
  augment: bool = False
  num_train: int = 0
  num_val: int = 0
  data: tuple = ()  # sorted (key, value) items of the data config, for augment

  @property
  def steps_per_epoch(self) -> int:
    return max(self.num_train // self.batch_size, 1)

  @property
  def num_steps(self) -> int:
    return self.epochs * self.steps_per_epoch


def _data_config(settings: TrainSettings):
  import ml_collections
  return ml_collections.ConfigDict(dict(settings.data))


def make_train_fn(apply_fn: Callable, settings: TrainSettings) -> Callable:
  """The pure proxy-training function of one architecture.

  Args:
    apply_fn: ``(variables, x, block, train) -> (logits, new_batch_stats)``.
    settings: the training settings.
  """
  tx = optax.adam(settings.learning_rate)
  data_config = _data_config(settings) if settings.augment else None

  def loss_fn(params, batch_stats, block, x, y):
    logits, new_stats = apply_fn({"params": params, "batch_stats": batch_stats}, x,
                                 block, True)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, new_stats

  def train(key, block, variables, num_steps, images, labels, val_images, val_labels):
    params, batch_stats = variables["params"], variables.get("batch_stats", {})
    opt_state = tx.init(params)
    n, b = settings.num_train, settings.batch_size

    def step(i, carry):
      params, batch_stats, opt_state, _ = carry
      epoch, j = i // settings.steps_per_epoch, i % settings.steps_per_epoch
      order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
      index = jax.lax.dynamic_slice(order, (j * b,), (b,))
      x, y = images[index], labels[index]
      if data_config is not None:
        x = data_lib.augment(jax.random.fold_in(key, 1_000_003 + i), x, data_config)
      (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
          params, batch_stats, block, x, y)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    params, batch_stats, _, loss = jax.lax.fori_loop(
        0, num_steps, step, (params, batch_stats, opt_state, jnp.float32(0.0)))
    accuracy = _validate(apply_fn, params, batch_stats, block, val_images, val_labels,
                         settings)
    finite = jnp.isfinite(loss)
    for leaf in jax.tree_util.tree_leaves(params):
      finite &= jnp.all(jnp.isfinite(leaf))
    return jnp.where(finite, accuracy, jnp.nan), loss

  return train


def _validate(apply_fn, params, batch_stats, block, images, labels, settings):
  n, b = settings.num_val, settings.eval_batch_size
  num_batches = -(-n // b)
  pad = num_batches * b - n
  images = jnp.pad(images, ((0, pad),) + ((0, 0),) * (images.ndim - 1))
  labels = jnp.pad(labels, (0, pad))
  mask = jnp.arange(num_batches * b) < n

  def batch(correct, i):
    x = jax.lax.dynamic_slice_in_dim(images, i * b, b)
    y = jax.lax.dynamic_slice_in_dim(labels, i * b, b)
    m = jax.lax.dynamic_slice_in_dim(mask, i * b, b)
    logits, _ = apply_fn({"params": params, "batch_stats": batch_stats}, x, block, False)
    return correct + jnp.sum((jnp.argmax(logits, -1) == y) & m), None

  correct, _ = jax.lax.scan(batch, jnp.int32(0), jnp.arange(num_batches))
  return 100.0 * correct / n
