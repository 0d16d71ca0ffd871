"""Epoch orders and fixed-size batches, deterministic for a seed.

Every batch has exactly ``batch_size`` rows, so a jitted train or eval step
compiles once. Two ways to deal with the remainder of an epoch:

* ``remainder="drop"`` (training): the last ``num_examples % batch_size``
  examples of the epoch's order are left out; as the order changes every
  epoch, every example is still seen.
* ``remainder="pad"`` (evaluation): the last batch is filled up with padding
  rows (image 0, label 0) and every batch carries ``mask: bool[batch_size]``,
  False on padding, so that means and accuracies count real examples only.

The order of epoch ``e`` under seed ``s`` is the permutation drawn by
``numpy.random.default_rng((s, e))``: it depends on nothing else (not on
earlier epochs), so a run resumed at epoch ``e`` sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

REMAINDERS = ("drop", "pad")


def check_batching(num_examples: int, batch_size: int, seed: int,
                   remainder: str) -> None:
  """Raises ``ValueError`` naming the bad argument."""
  if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
    raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
  if not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"seed must be a non-negative int, got {seed!r}")
  if remainder not in REMAINDERS:
    raise ValueError(f"remainder must be one of {REMAINDERS}, got {remainder!r}")
  if remainder == "drop" and batch_size > num_examples:
    raise ValueError(f"batch_size={batch_size} exceeds the {num_examples} "
                     "examples of the split: no full batch to yield with "
                     "remainder='drop' (use a smaller batch_size or 'pad')")


def num_batches(num_examples: int, batch_size: int, remainder: str = "drop") -> int:
  """Batches per epoch."""
  if remainder == "drop":
    return num_examples // batch_size
  return -(-num_examples // batch_size)


def epoch_order(num_examples: int, *, seed: int = 0, epoch: int = 0,
                shuffle: bool = True) -> np.ndarray:
  """int64[num_examples]: the example order of ``epoch`` (identity if not shuffled)."""
  if not shuffle:
    return np.arange(num_examples)
  return np.random.default_rng((int(seed), int(epoch))).permutation(num_examples)


def batch_indices(num_examples: int, batch_size: int, *, seed: int = 0,
                  epoch: int = 0, shuffle: bool = True,
                  remainder: str = "drop") -> tuple[np.ndarray, np.ndarray]:
  """Example indices and mask of one epoch's batches.

  Returns:
    ``(indices, mask)``: int64 and bool arrays ``[num_batches, batch_size]``;
    padding rows have index 0 and mask False. Useful to gather batches from
    arrays that already sit on the device.
  """
  check_batching(num_examples, batch_size, seed, remainder)
  order = epoch_order(num_examples, seed=seed, epoch=epoch, shuffle=shuffle)
  n = num_batches(num_examples, batch_size, remainder)
  total = n * batch_size
  mask = np.arange(total) < num_examples
  indices = np.zeros(total, dtype=np.int64)
  kept = min(total, num_examples)
  indices[:kept] = order[:kept]
  return indices.reshape(n, batch_size), mask.reshape(n, batch_size)


def iterate_epochs(split, batch_size: int, num_epochs: int, *, seed: int = 0,
                   start_epoch: int = 0, shuffle: bool = True,
                   remainder: str = "drop") -> Iterator[tuple[int, dict]]:
  """Yields ``(epoch, batch)`` for epochs ``start_epoch .. num_epochs - 1``.

  ``split`` is any split of :mod:`irlas_jax.data.dataset` (it has
  ``batches``); every epoch is reshuffled from ``(seed, epoch)``.
  """
  if not isinstance(num_epochs, int) or num_epochs < 0:
    raise ValueError(f"num_epochs must be a non-negative int, got {num_epochs!r}")
  for epoch in range(start_epoch, num_epochs):
    for batch in split.batches(batch_size, seed=seed, epoch=epoch,
                               shuffle=shuffle, remainder=remainder):
      yield epoch, batch
