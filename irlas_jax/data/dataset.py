"""Splits and data sets: what :func:`irlas_jax.data.load` returns.

Two kinds of split share one interface (``num_examples``, ``image_shape``,
``batches(batch_size, seed=, epoch=, shuffle=, remainder=)``), and both yield
numpy batches ``{"image": float32[B, H, W, C] in [0, 1], "label": int32[B],
"mask": bool[B]}`` (see :mod:`irlas_jax.data.batching` for ``mask``):

* :class:`ArraySplit` holds the whole split in host memory (uint8 pixels, or
  float32 in [0, 1] for sources that are not 8-bit), for small data sets
  (digits, CIFAR-10 and its subsets). The proxy evaluator trains many small
  networks on the same data, so it pays to decode once; ``float_images()``
  plus :func:`irlas_jax.data.batching.batch_indices` also let a caller put
  the split on the device once and gather batches there.
* :class:`StreamSplit` re-reads the split with tf.data every epoch
  (ImageNet), shuffled with a buffer seeded from ``(seed, epoch)``.

Images are never normalised here: normalisation (a config option) is done on
device by :func:`irlas_jax.data.augmentation.augment` / ``preprocess``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import dataclasses
from typing import Any, Union

import numpy as np

from irlas_jax.data import batching


def to_float(images: np.ndarray) -> np.ndarray:
  """float32 pixels in [0, 1] from uint8 (divided by 255) or float images."""
  if images.dtype == np.uint8:
    return images.astype(np.float32) / np.float32(255.0)
  return images.astype(np.float32, copy=False)


def _check_arrays(images: np.ndarray, labels: np.ndarray) -> None:
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
  if images.dtype not in (np.uint8, np.float32):
    raise ValueError(f"images must be uint8 or float32, got {images.dtype}")
  if labels.shape != (images.shape[0],):
    raise ValueError(f"labels must be [N] with N={images.shape[0]}, got shape "
                     f"{labels.shape}")


@dataclasses.dataclass(frozen=True, eq=False)
class ArraySplit:
  """A split held in memory.

  Attributes:
    images: uint8[N, H, W, C] (0..255) or float32[N, H, W, C] in [0, 1].
    labels: int32[N].
  """
  images: np.ndarray
  labels: np.ndarray

  def __post_init__(self):
    # Read-only views: splits share arrays (take, float_images), so none may
    # change them in place.
    images = np.asarray(self.images).view()
    labels = np.asarray(self.labels, np.int32).view()
    _check_arrays(images, labels)
    images.flags.writeable = labels.flags.writeable = False
    object.__setattr__(self, "images", images)
    object.__setattr__(self, "labels", labels)

  @property
  def num_examples(self) -> int:
    return int(self.images.shape[0])

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(int(d) for d in self.images.shape[1:])

  def __len__(self) -> int:
    return self.num_examples

  def float_images(self) -> np.ndarray:
    """float32[N, H, W, C] in [0, 1] (the stored array itself if float32)."""
    return to_float(self.images)

  def take(self, indices) -> "ArraySplit":
    """The examples at ``indices``, in that order."""
    indices = np.asarray(indices, dtype=np.int64)
    return ArraySplit(self.images[indices], self.labels[indices])

  def num_batches(self, batch_size: int, remainder: str = "drop") -> int:
    return batching.num_batches(self.num_examples, batch_size, remainder)

  def batches(self, batch_size: int, *, seed: int = 0, epoch: int = 0,
              shuffle: bool = True, remainder: str = "drop") -> Iterator[dict]:
    """One epoch of fixed-size batches (see :mod:`irlas_jax.data.batching`)."""
    indices, mask = batching.batch_indices(
        self.num_examples, batch_size, seed=seed, epoch=epoch, shuffle=shuffle,
        remainder=remainder)
    for idx, m in zip(indices, mask):
      images = to_float(self.images[idx])
      labels = self.labels[idx]
      if not m.all():
        images[~m] = 0.0
        labels = np.where(m, labels, 0).astype(np.int32)
      yield {"image": images, "label": labels, "mask": m}


def _tf_seed(seed: int, epoch: int) -> int:
  """A 31-bit tf.data seed drawn from ``(seed, epoch)``."""
  return int(np.random.SeedSequence((int(seed), int(epoch))).generate_state(1)[0]
             >> 1)


class StreamSplit:
  """A split streamed with tf.data.

  Args:
    make_dataset: ``(shuffle_seed | None) -> tf.data.Dataset`` of
      ``(image float32[H, W, C] in [0, 1], label int)`` pairs, unbatched;
      given a seed it should also shuffle its files with it.
    num_examples: examples in the split.
    image_shape: ``(H, W, C)`` of every image.
    shuffle_buffer: size of the example shuffle buffer.
  """

  def __init__(self, make_dataset: Callable[[Any], Any], num_examples: int,
               image_shape: tuple[int, int, int], shuffle_buffer: int = 10_000):
    self._make_dataset = make_dataset
    self.num_examples = int(num_examples)
    self.image_shape = tuple(int(d) for d in image_shape)
    self.shuffle_buffer = int(shuffle_buffer)

  def __len__(self) -> int:
    return self.num_examples

  def num_batches(self, batch_size: int, remainder: str = "drop") -> int:
    return batching.num_batches(self.num_examples, batch_size, remainder)

  def batches(self, batch_size: int, *, seed: int = 0, epoch: int = 0,
              shuffle: bool = True, remainder: str = "drop") -> Iterator[dict]:
    """One epoch of fixed-size batches (see :mod:`irlas_jax.data.batching`)."""
    batching.check_batching(self.num_examples, batch_size, seed, remainder)
    tf_seed = _tf_seed(seed, epoch) if shuffle else None
    ds = self._make_dataset(tf_seed)
    if shuffle:
      ds = ds.shuffle(self.shuffle_buffer, seed=tf_seed,
                      reshuffle_each_iteration=False)
    ds = ds.batch(batch_size, drop_remainder=remainder == "drop").prefetch(2)
    for images, labels in ds.as_numpy_iterator():
      n = images.shape[0]
      images = images.astype(np.float32, copy=False)
      labels = labels.astype(np.int32)
      mask = np.ones(batch_size, dtype=bool)
      if n < batch_size:
        mask[n:] = False
        images = np.concatenate(
            [images, np.zeros((batch_size - n,) + images.shape[1:], np.float32)])
        labels = np.concatenate([labels, np.zeros(batch_size - n, np.int32)])
      yield {"image": images, "label": labels, "mask": mask}


Split = Union[ArraySplit, StreamSplit]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
  """The splits of one data set.

  Attributes:
    name: ``config.name``.
    train: the training split (the pool minus any carved validation set).
    validation: the validation split, or None.
    test: the test split, or None.
    num_classes: number of labels; labels are ``0 .. num_classes - 1``.
    class_names: label names (folder names for image folders).
    image_shape: ``(H, W, C)`` of every image in every split.
  """
  name: str
  train: Split
  validation: Split | None
  test: Split | None
  num_classes: int
  class_names: tuple[str, ...]
  image_shape: tuple[int, int, int]

  @property
  def splits(self) -> dict[str, Split]:
    """The splits that exist, by name."""
    out = {"train": self.train, "validation": self.validation, "test": self.test}
    return {k: v for k, v in out.items() if v is not None}

  def __repr__(self) -> str:
    sizes = ", ".join(f"{k}={v.num_examples}" for k, v in self.splits.items())
    return (f"Dataset({self.name}, {sizes}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes})")


def channel_stats(split: ArraySplit, chunk: int = 4096) -> tuple[tuple[float, ...],
                                                                  tuple[float, ...]]:
  """Per-channel mean and std of the [0, 1] pixels of an in-memory split.

  Usage: ``config.mean, config.std = channel_stats(dataset.train)``.
  """
  if not isinstance(split, ArraySplit):
    raise ValueError("channel_stats needs an in-memory split (ArraySplit)")
  c = split.image_shape[-1]
  total = np.zeros(c)
  total_sq = np.zeros(c)
  for start in range(0, split.num_examples, chunk):
    x = to_float(split.images[start:start + chunk]).astype(np.float64)
    total += x.sum(axis=(0, 1, 2))
    total_sq += np.square(x).sum(axis=(0, 1, 2))
  count = split.num_examples * split.image_shape[0] * split.image_shape[1]
  mean = total / count
  std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
  return tuple(float(v) for v in mean), tuple(float(v) for v in std)
