"""Data augmentation and normalisation on device (Sec. 4.2), jitted JAX.

The paper trains with the standard CIFAR-10 augmentation: a random crop of
the image padded with 4 zero pixels on each side, a random horizontal flip,
and Cutout (DeVries & Taylor, 2017). :func:`augment` composes them in the
order of the reference CIFAR-10 pipelines:

  crop (zero padding, in [0, 1] pixels) -> flip -> normalise -> Cutout,

so the padding is black and the Cutout square is zero after normalisation,
i.e. the mean pixel, as in DeVries & Taylor (without ``normalize`` it is
black too). Evaluation uses :func:`preprocess` (normalisation only).

Every random choice is per image: the stage key is split into one key per
image and the parameters are drawn under ``vmap``. Each stage is a pair
"draw parameters from a key" / "apply given parameters", so that
``random_crop(key, x, p) == crop(x, crop_offsets(key, len(x), p), p)`` and
the same for flip and Cutout; tests check the pure halves against numpy.

Cutout: a square of side ``size`` whose centre ``(cy, cx)`` is uniform over
the pixels; rows ``cy - size // 2 .. cy - size // 2 + size - 1`` (and the
same for columns), clipped at the borders, are set to zero in every channel.
For even sizes this is exactly DeVries & Taylor's square.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from irlas_jax.data import config as config_lib


def _per_image_keys(key: jax.Array, num: int) -> jax.Array:
  return jax.random.split(key, num)


# Random crop with zero padding.

def crop_offsets(key: jax.Array, num: int, padding: int) -> jax.Array:
  """int32[num, 2]: top-left corner ``(dy, dx)`` in the padded image, each
  uniform in ``0 .. 2 * padding``."""
  return jax.vmap(lambda k: jax.random.randint(k, (2,), 0, 2 * padding + 1))(
      _per_image_keys(key, num))


def crop(images: jax.Array, offsets: jax.Array, padding: int) -> jax.Array:
  """Windows of the original size at ``offsets`` of the zero-padded images."""
  if padding == 0:
    return images
  _, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  window = lambda x, o: jax.lax.dynamic_slice(x, (o[0], o[1], 0), (h, w, c))
  return jax.vmap(window)(padded, offsets)


def random_crop(key: jax.Array, images: jax.Array, padding: int) -> jax.Array:
  """Random crop of each image padded by ``padding`` zero pixels per side."""
  return crop(images, crop_offsets(key, images.shape[0], padding), padding)


# Random horizontal flip.

def flip_flags(key: jax.Array, num: int) -> jax.Array:
  """bool[num]: which images to mirror, each with probability 1/2."""
  return jax.vmap(jax.random.bernoulli)(_per_image_keys(key, num))


def flip(images: jax.Array, flags: jax.Array) -> jax.Array:
  """Mirrors (left-right) the images whose flag is set."""
  return jnp.where(flags[:, None, None, None], images[:, :, ::-1, :], images)


def random_flip(key: jax.Array, images: jax.Array) -> jax.Array:
  return flip(images, flip_flags(key, images.shape[0]))


# Cutout.

def cutout_centres(key: jax.Array, num: int, height: int, width: int) -> jax.Array:
  """int32[num, 2]: square centres ``(cy, cx)``, uniform over the pixels."""
  def one(k):
    ky, kx = jax.random.split(k)
    return jnp.stack([jax.random.randint(ky, (), 0, height),
                      jax.random.randint(kx, (), 0, width)])
  return jax.vmap(one)(_per_image_keys(key, num))


def cutout_mask(centres: jax.Array, size: int, height: int, width: int) -> jax.Array:
  """bool[num, height, width]: True inside each clipped Cutout square."""
  top = centres[:, 0] - size // 2
  left = centres[:, 1] - size // 2
  rows = jnp.arange(height)[None, :]
  cols = jnp.arange(width)[None, :]
  in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
  in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
  return in_rows[:, :, None] & in_cols[:, None, :]


def cutout(images: jax.Array, centres: jax.Array, size: int) -> jax.Array:
  """Zeroes a ``size`` x ``size`` square (clipped) around each centre."""
  if size == 0:
    return images
  _, h, w, _ = images.shape
  mask = cutout_mask(centres, size, h, w)
  return jnp.where(mask[..., None], jnp.zeros((), images.dtype), images)


def random_cutout(key: jax.Array, images: jax.Array, size: int) -> jax.Array:
  _, h, w, _ = images.shape
  return cutout(images, cutout_centres(key, images.shape[0], h, w), size)


# Normalisation and composition.

def normalize(images: jax.Array, mean, std) -> jax.Array:
  """``(images - mean) / std`` per channel."""
  mean = jnp.asarray(mean, images.dtype)
  std = jnp.asarray(std, images.dtype)
  return (images - mean) / std


class AugmentParams(NamedTuple):
  """The static (hashable) augmentation settings read from a config."""
  crop_padding: int
  flip: bool
  cutout_size: int
  mean: tuple[float, ...] | None
  std: tuple[float, ...] | None


def params_from_config(config, channels: int | None = None) -> AugmentParams:
  """Reads and checks ``crop_padding``, ``flip``, ``cutout_size``,
  ``normalize``, ``mean``, ``std`` (errors name the field)."""
  for field in ("crop_padding", "cutout_size"):
    value = config[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
      raise ValueError(f"config.{field} must be a non-negative int, got {value!r}")
  if not isinstance(config.flip, bool):
    raise ValueError(f"config.flip must be a bool, got {config.flip!r}")
  if not isinstance(config.normalize, bool):
    raise ValueError(f"config.normalize must be a bool, got {config.normalize!r}")
  mean = std = None
  if config.normalize:
    config_lib.check_stats(config.mean, config.std, channels)
    mean = tuple(float(v) for v in config.mean)
    std = tuple(float(v) for v in config.std)
  return AugmentParams(int(config.crop_padding), bool(config.flip),
                       int(config.cutout_size), mean, std)


def _check_images(images) -> None:
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"images must be floats in [0, 1] (as batches yield them), "
                     f"got dtype {images.dtype}")


@functools.partial(jax.jit, static_argnums=2)
def _augment(key: jax.Array, images: jax.Array, params: AugmentParams) -> jax.Array:
  k_crop, k_flip, k_cut = jax.random.split(key, 3)
  x = images.astype(jnp.float32)
  x = random_crop(k_crop, x, params.crop_padding)
  if params.flip:
    x = random_flip(k_flip, x)
  if params.mean is not None:
    x = normalize(x, params.mean, params.std)
  return random_cutout(k_cut, x, params.cutout_size)


@functools.partial(jax.jit, static_argnums=1)
def _preprocess(images: jax.Array, params: AugmentParams) -> jax.Array:
  x = images.astype(jnp.float32)
  if params.mean is not None:
    x = normalize(x, params.mean, params.std)
  return x


def augment(key: jax.Array, images: jax.Array, config) -> jax.Array:
  """Training augmentation of a batch (Sec. 4.2), per image.

  Args:
    key: PRNG key; split into crop / flip / Cutout keys, then per image.
    images: float32[N, H, W, C] in [0, 1] (as the loaders yield them).
    config: a data config (see :mod:`irlas_jax.data.config`).

  Returns:
    float32[N, H, W, C]: cropped, flipped, normalised (if
    ``config.normalize``) and Cutout images. Deterministic for a fixed key.
  """
  _check_images(images)
  return _augment(key, images, params_from_config(config, images.shape[-1]))


def preprocess(images: jax.Array, config) -> jax.Array:
  """Evaluation preprocessing: float32, normalised if ``config.normalize``."""
  _check_images(images)
  return _preprocess(images, params_from_config(config, images.shape[-1]))
