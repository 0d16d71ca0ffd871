"""Seeded, class-aware choices of examples: subsets and validation carves.

Both work on labels only, so a source can choose which examples to decode
before decoding any (image folders), and both are fixed by a seed (an int or
a tuple of ints, as ``numpy.random.default_rng`` takes; the loaders pass
``(config.seed, stream)`` so that subset and carve draw independently).
"""

from __future__ import annotations

import numpy as np


def class_quotas(n: int, available: np.ndarray) -> np.ndarray:
  """How many examples to take per class for a class-balanced total of ``n``.

  Classes get equal shares (the first classes in label order one more when
  ``n`` does not divide); a class with fewer examples than its share gives
  the rest to the others. Returns int64[num_classes], summing to
  ``min(n, available.sum())``.
  """
  available = np.asarray(available, dtype=np.int64)
  take = np.zeros_like(available)
  left = min(int(n), int(available.sum()))
  while left > 0:
    open_ = np.flatnonzero(take < available)
    share = left // len(open_)
    if share == 0:
      take[open_[:left]] += 1
      break
    add = np.minimum(share, available[open_] - take[open_])
    take[open_] += add
    left -= int(add.sum())
  return take


def balanced_subset(labels: np.ndarray, n: int | None, seed,
                    num_classes: int | None = None) -> np.ndarray:
  """Sorted indices of a class-balanced subset of ``n`` examples.

  Within a class, the examples are a random choice fixed by ``seed``.
  ``n=None`` (or ``n >= len(labels)``) returns every index.
  """
  labels = np.asarray(labels)
  if n is None or n >= labels.shape[0]:
    return np.arange(labels.shape[0])
  num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
  quotas = class_quotas(n, np.bincount(labels, minlength=num_classes))
  rng = np.random.default_rng(seed)
  chosen = [rng.permutation(np.flatnonzero(labels == c))[:q]
            for c, q in enumerate(quotas)]
  return np.sort(np.concatenate(chosen)).astype(np.int64)


def carve_validation(labels: np.ndarray, fraction: float, seed,
                     num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Splits indices ``0 .. len(labels) - 1`` into train and validation.

  Class-stratified: ``round(fraction * N)`` validation examples, shared out
  over the classes in proportion to their sizes (largest remainders first),
  chosen within each class at random, fixed by ``seed``. Returns sorted
  ``(train_indices, validation_indices)``, disjoint and covering all.
  """
  labels = np.asarray(labels)
  total = labels.shape[0]
  if fraction <= 0:
    return np.arange(total), np.zeros(0, dtype=np.int64)
  num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
  counts = np.bincount(labels, minlength=num_classes)
  exact = fraction * counts
  k = np.floor(exact).astype(np.int64)
  extra = int(round(fraction * total)) - int(k.sum())
  if extra > 0:
    order = np.argsort(-(exact - k), kind="stable")
    k[order[:extra]] += 1
  rng = np.random.default_rng(seed)
  in_val = np.zeros(total, dtype=bool)
  for c in range(num_classes):
    in_val[rng.permutation(np.flatnonzero(labels == c))[:k[c]]] = True
  return np.flatnonzero(~in_val), np.flatnonzero(in_val)
