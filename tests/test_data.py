"""Tests of irlas_jax.data: sources, splits, augmentation (Sec. 4.2), batching.

Nothing downloads: tfds sources run under ``tfds.testing.mock_data``; image
folders read a few real CIFAR-10 JPEGs of ../shared/data, linked into a tmp
folder. Augmentations are checked against numpy references.
"""

import os
import pathlib
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from irlas_jax import data
from irlas_jax.data import augmentation

SHARED_CIFAR = (pathlib.Path(__file__).resolve().parents[1].parent
                / "shared" / "data" / "cifar10-jpeg")
FOLDER_CLASSES = ("airplane", "cat", "ship")
FOLDER_PER_CLASS = {"train": 10, "test": 4}


def _config(name, **overrides):
  config = data.default_config(name)
  for k, v in overrides.items():
    config[k] = v
  return config


# Digits (embedded default).

def test_digits_shapes_and_range():
  ds = data.load(data.default_config("digits"))
  assert ds.num_classes == 10 and ds.image_shape == (8, 8, 1)
  assert ds.test is None
  assert ds.train.num_examples + ds.validation.num_examples == 1797
  assert ds.validation.num_examples == round(0.2 * 1797)
  for split in (ds.train, ds.validation):
    x = split.float_images()
    assert x.dtype == np.float32 and x.shape[1:] == (8, 8, 1)
    assert x.min() == 0.0 and x.max() == 1.0
    assert split.labels.dtype == np.int32
    assert set(np.unique(split.labels)) == set(range(10))


def _rows(split):
  return sorted(im.tobytes() + bytes([int(l)])
                for im, l in zip(split.images, split.labels))


def test_digits_split_fixed_by_seed_and_disjoint():
  from sklearn import datasets
  a = data.load(_config("digits", seed=3))
  b = data.load(_config("digits", seed=3))
  c = data.load(_config("digits", seed=4))
  np.testing.assert_array_equal(a.validation.images, b.validation.images)
  np.testing.assert_array_equal(a.train.labels, b.train.labels)
  assert not np.array_equal(a.validation.images, c.validation.images)
  # train + validation is the whole set, each image once (as a multiset).
  x, y = datasets.load_digits(return_X_y=True)
  full = sorted((xi.reshape(8, 8, 1) / 16.0).astype(np.float32).tobytes()
                + bytes([int(yi)]) for xi, yi in zip(x, y))
  assert sorted(_rows(a.train) + _rows(a.validation)) == full


def test_digits_max_examples_is_class_balanced():
  ds = data.load(_config("digits", max_examples=100))
  assert ds.train.num_examples == 80 and ds.validation.num_examples == 20
  np.testing.assert_array_equal(np.bincount(ds.train.labels), [8] * 10)
  np.testing.assert_array_equal(np.bincount(ds.validation.labels), [2] * 10)


def test_digits_resize():
  ds = data.load(_config("digits", image_size=16, max_examples=50))
  x = ds.train.float_images()
  assert ds.image_shape == (16, 16, 1) and x.shape[1:] == (16, 16, 1)
  assert 0.0 <= x.min() and x.max() <= 1.0


def test_selection_reference():
  labels = np.repeat(np.arange(4), [10, 20, 30, 3])
  train, val = data.carve_validation(labels, 0.25, seed=0)
  assert len(val) == round(0.25 * len(labels))
  assert np.intersect1d(train, val).size == 0
  np.testing.assert_array_equal(np.sort(np.concatenate([train, val])),
                                np.arange(len(labels)))
  counts = np.bincount(labels[val], minlength=4)
  assert np.all(np.abs(counts - 0.25 * np.array([10, 20, 30, 3])) < 1)
  train2, val2 = data.carve_validation(labels, 0.25, seed=0)
  np.testing.assert_array_equal(val, val2)
  # The short class (3 examples) gives its share to the others.
  sub = data.balanced_subset(labels, 21, seed=1)
  np.testing.assert_array_equal(np.bincount(labels[sub], minlength=4), [6, 6, 6, 3])


@pytest.mark.parametrize("field,value", [
    ("name", "mnist"), ("validation_fraction", 1.0), ("batch_size", 0),
    ("max_examples", -3), ("seed", -1), ("crop_padding", -1), ("cutout_size", -2),
    ("train_split", ""),
])
def test_config_errors_name_the_field(field, value):
  config = data.default_config("digits")
  config[field] = value
  with pytest.raises(ValueError, match=field):
    data.load(config)


def test_digits_rejects_other_splits():
  with pytest.raises(ValueError, match="test_split"):
    data.load(_config("digits", test_split="test"))


# tfds sources, mocked.

@pytest.fixture
def mocked_tfds():
  import tensorflow_datasets as tfds
  # mock_data fakes the records but not the prepared files that load checks
  # for first, so that check is told the data are there.
  with tfds.testing.mock_data(num_examples=20), mock.patch.object(
      tfds.core.DatasetBuilder, "is_prepared", return_value=True):
    yield


def test_cifar10_mock_materialized(mocked_tfds, tmp_path):
  ds = data.load(_config("cifar10", data_dir=str(tmp_path)))
  assert isinstance(ds.train, data.ArraySplit)
  assert ds.num_classes == 10 and len(ds.class_names) == 10
  assert ds.image_shape == (32, 32, 3)
  assert ds.train.num_examples == 18 and ds.validation.num_examples == 2
  assert ds.test.num_examples == 20
  assert ds.train.images.dtype == np.uint8
  batch = next(ds.train.batches(8, seed=0))
  assert batch["image"].shape == (8, 32, 32, 3)
  assert batch["image"].dtype == np.float32
  assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
  assert batch["label"].dtype == np.int32 and batch["mask"].all()


def test_cifar10_mock_max_examples(mocked_tfds, tmp_path):
  ds = data.load(_config("cifar10", data_dir=str(tmp_path), max_examples=10,
                         validation_fraction=0.0, test_split=None))
  counts = np.bincount(ds.train.labels, minlength=10)
  assert ds.train.num_examples <= 10 and counts.max() == 1


def test_cifar10_mock_streamed(mocked_tfds, tmp_path):
  ds = data.load(_config("cifar10", data_dir=str(tmp_path), materialize=False,
                         validation_split="test", test_split=None))
  assert isinstance(ds.train, data.StreamSplit)
  assert ds.train.num_examples == 20
  a = list(ds.train.batches(8, seed=1, epoch=0, remainder="pad"))
  b = list(ds.train.batches(8, seed=1, epoch=0, remainder="pad"))
  assert [x["image"].shape for x in a] == [(8, 32, 32, 3)] * 3
  assert sum(int(x["mask"].sum()) for x in a) == 20
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x["image"], y["image"])
  # Carving a validation set from a streamed split (by slicing).
  ds = data.load(_config("cifar10", data_dir=str(tmp_path), materialize=False,
                         test_split=None))
  assert isinstance(ds.validation, data.StreamSplit)
  assert next(ds.validation.batches(4))["image"].shape == (4, 32, 32, 3)


def test_imagenet_mock_streamed(mocked_tfds, tmp_path):
  ds = data.load(_config("imagenet2012", data_dir=str(tmp_path), image_size=16))
  assert isinstance(ds.train, data.StreamSplit)
  assert ds.num_classes == 1000 and ds.image_shape == (16, 16, 3)
  batches = list(ds.validation.batches(6, shuffle=False))
  assert len(batches) == 3
  for batch in batches:
    assert batch["image"].shape == (6, 16, 16, 3)
    assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert batch["label"].dtype == np.int32


@pytest.mark.parametrize("name,needle", [
    ("cifar10", "python -m irlas_jax.data.prepare cifar10 --data_dir="),
    ("imagenet2012", "ILSVRC2012_img_train.tar"),
])
def test_unprepared_tfds_fails_at_once(tmp_path, name, needle):
  start = time.time()
  with pytest.raises(FileNotFoundError) as err:
    data.load(_config(name, data_dir=str(tmp_path)))
  assert time.time() - start < 5.0
  message = str(err.value)
  assert needle in message and str(tmp_path) in message
  if name == "imagenet2012":
    assert os.path.join(str(tmp_path), "downloads", "manual") in message
  assert not any(tmp_path.iterdir())  # nothing was downloaded or written


# Image folders: real CIFAR-10 JPEGs.

@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
  if not SHARED_CIFAR.is_dir():
    pytest.skip(f"real data not found at {SHARED_CIFAR}")
  root = tmp_path_factory.mktemp("cifar_folder")
  for split, per_class in FOLDER_PER_CLASS.items():
    for label in FOLDER_CLASSES:
      (root / split / label).mkdir(parents=True)
      for name in sorted(os.listdir(SHARED_CIFAR / split / label))[:per_class]:
        (root / split / label / name).symlink_to(SHARED_CIFAR / split / label / name)
  return root


def _pil_reference(root, split):
  """``(images uint8[N, 32, 32, 3], labels)`` decoded with PIL."""
  images, labels = [], []
  for i, label in enumerate(FOLDER_CLASSES):
    d = root / split / label
    for name in sorted(os.listdir(d)):
      images.append(np.asarray(Image.open(d / name).convert("RGB")))
      labels.append(i)
  return np.stack(images), np.array(labels)


def _assert_matches_files(split, ref_images, ref_labels):
  """Each image is one of the files (as PIL decodes it), of its label."""
  for image, label in zip(split.images, split.labels):
    diff = np.abs(ref_images.astype(int) - image.astype(int)).max(axis=(1, 2, 3))
    j = int(np.argmin(diff))
    assert diff[j] <= 1 and ref_labels[j] == label


def test_image_folder_real_jpegs(folder_root):
  ds = data.load(_config("image_folder", root=str(folder_root),
                         test_split="test", validation_fraction=0.2))
  assert ds.class_names == FOLDER_CLASSES and ds.num_classes == 3
  assert ds.image_shape == (32, 32, 3)
  assert ds.train.num_examples == 24 and ds.validation.num_examples == 6
  assert ds.test.num_examples == 12
  np.testing.assert_array_equal(np.bincount(ds.validation.labels), [2, 2, 2])
  ref_images, ref_labels = _pil_reference(folder_root, "train")
  _assert_matches_files(ds.train, ref_images, ref_labels)
  _assert_matches_files(ds.validation, ref_images, ref_labels)
  _assert_matches_files(ds.test, *_pil_reference(folder_root, "test"))
  batch = next(ds.test.batches(5, shuffle=False, remainder="pad"))
  assert batch["image"].shape == (5, 32, 32, 3) and batch["image"].dtype == np.float32
  assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
  assert batch["image"].max() > 0.5


def test_image_folder_max_examples(folder_root):
  config = _config("image_folder", root=str(folder_root), max_examples=7,
                   validation_fraction=0.0)
  a, b = data.load(config), data.load(config)
  assert a.train.num_examples == 7
  np.testing.assert_array_equal(np.bincount(a.train.labels), [3, 2, 2])
  np.testing.assert_array_equal(a.train.images, b.train.images)
  config.seed = 1
  c = data.load(config)
  assert not np.array_equal(a.train.images, c.train.images)
  _assert_matches_files(a.train, *_pil_reference(folder_root, "train"))


def test_image_folder_streamed(folder_root):
  ds = data.load(_config("image_folder", root=str(folder_root), materialize=False,
                         validation_split="test"))
  assert isinstance(ds.train, data.StreamSplit)
  assert ds.train.num_examples == 30 and ds.validation.num_examples == 12
  batches = list(ds.train.batches(8, seed=0))
  assert len(batches) == 3 and all(b["image"].shape == (8, 32, 32, 3) for b in batches)
  again = list(ds.train.batches(8, seed=0))
  np.testing.assert_array_equal(batches[0]["label"], again[0]["label"])
  carved = data.load(_config("image_folder", root=str(folder_root),
                             materialize=False, validation_fraction=0.2))
  assert carved.train.num_examples == 24 and carved.validation.num_examples == 6
  labels = np.concatenate([b["label"] for b in carved.validation.batches(3)])
  np.testing.assert_array_equal(np.bincount(labels), [2, 2, 2])


def test_image_folder_errors(folder_root, tmp_path):
  with pytest.raises(FileNotFoundError, match="config.root"):
    data.load(_config("image_folder", root=str(tmp_path / "missing")))
  with pytest.raises(ValueError, match="train_split"):
    data.load(_config("image_folder", root=str(folder_root), train_split="val"))
  with pytest.raises(ValueError, match="config.root"):
    data.load(_config("image_folder"))


# Augmentation (Sec. 4.2), against numpy.

def _images(n=16, h=8, w=8, c=3, seed=0):
  return np.random.default_rng(seed).uniform(0.1, 1.0, (n, h, w, c)).astype(np.float32)


def test_crop_is_a_window_of_the_zero_padded_image():
  x = _images()
  key = jax.random.key(0)
  p = 2
  out = np.asarray(augmentation.random_crop(key, jnp.asarray(x), p))
  offsets = np.asarray(augmentation.crop_offsets(key, len(x), p))
  assert out.shape == x.shape
  assert offsets.min() >= 0 and offsets.max() <= 2 * p
  assert len({tuple(o) for o in offsets}) > 1  # per-image offsets
  padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  for i, (dy, dx) in enumerate(offsets):
    np.testing.assert_array_equal(out[i], padded[i, dy:dy + 8, dx:dx + 8])
    shifted = (dy, dx) != (p, p)
    assert shifted == bool((out[i] == 0).any())  # zero border iff shifted


def test_flip_is_an_exact_mirror():
  x = _images()
  key = jax.random.key(1)
  out = np.asarray(augmentation.random_flip(key, jnp.asarray(x)))
  flags = np.asarray(augmentation.flip_flags(key, len(x)))
  assert 0 < flags.sum() < len(x)
  for i in range(len(x)):
    np.testing.assert_array_equal(out[i], x[i, :, ::-1] if flags[i] else x[i])


def _numpy_cutout_mask(cy, cx, size, h, w):
  top, left = cy - size // 2, cx - size // 2
  mask = np.zeros((h, w), bool)
  mask[max(top, 0):min(top + size, h), max(left, 0):min(left + size, w)] = True
  return mask


@pytest.mark.parametrize("size", [16, 5])
def test_cutout_zeroes_a_clipped_square(size):
  ones = jnp.ones((6, 32, 32, 3))
  centres = np.array([[0, 0], [31, 31], [16, 16], [5, 30], [31, 2], [10, 14]])
  out = np.asarray(augmentation.cutout(ones, jnp.asarray(centres), size))
  for i, (cy, cx) in enumerate(centres):
    mask = _numpy_cutout_mask(cy, cx, size, 32, 32)
    assert (out[i] == 0).sum() == 3 * mask.sum()
    np.testing.assert_array_equal(out[i] == 0, np.repeat(mask[..., None], 3, -1))
  assert (out[2] == 0).sum() == 3 * size * size  # away from the borders
  # Random centres: same check, with the centres the key draws.
  key = jax.random.key(2)
  out = np.asarray(augmentation.random_cutout(key, jnp.ones((16, 32, 32, 3)), size))
  drawn = np.asarray(augmentation.cutout_centres(key, 16, 32, 32))
  for i, (cy, cx) in enumerate(drawn):
    assert (out[i] == 0).sum() == 3 * _numpy_cutout_mask(cy, cx, size, 32, 32).sum()


def test_augment_shapes_determinism_and_composition():
  config = data.default_config("cifar10")
  x = jnp.asarray(_images(8, 32, 32, 3))
  a = data.augment(jax.random.key(5), x, config)
  b = data.augment(jax.random.key(5), x, config)
  c = data.augment(jax.random.key(6), x, config)
  assert a.shape == x.shape and a.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.array_equal(np.asarray(a), np.asarray(c))
  # The composition, rebuilt from its stages.
  k_crop, k_flip, k_cut = jax.random.split(jax.random.key(5), 3)
  ref = augmentation.random_crop(k_crop, x, 4)
  ref = augmentation.random_flip(k_flip, ref)
  ref = augmentation.random_cutout(k_cut, ref, 16)
  np.testing.assert_allclose(np.asarray(a), np.asarray(ref))
  # Works inside a caller's jit.
  jitted = jax.jit(lambda k, im: data.augment(k, im, config))
  np.testing.assert_allclose(np.asarray(jitted(jax.random.key(5), x)), np.asarray(a))


def test_normalisation_before_cutout():
  config = _config("cifar10", normalize=True, crop_padding=0, flip=False)
  x = _images(4, 32, 32, 3)
  mean, std = np.array(config.mean), np.array(config.std)
  pre = np.asarray(data.preprocess(jnp.asarray(x), config))
  np.testing.assert_allclose(pre, (x - mean) / std, rtol=1e-6, atol=1e-6)
  out = np.asarray(data.augment(jax.random.key(0), jnp.asarray(x), config))
  cut = out == 0
  assert cut.any()
  np.testing.assert_allclose(out[~cut], pre[~cut], rtol=1e-6, atol=1e-6)
  config.mean = None
  with pytest.raises(ValueError, match="config.mean"):
    data.augment(jax.random.key(0), jnp.asarray(x), config)
  config.mean = (0.5, 0.5)
  with pytest.raises(ValueError, match="config.mean"):
    data.preprocess(jnp.asarray(x), config)


def test_channel_stats_matches_numpy():
  split = data.ArraySplit((_images(10, 4, 4, 3) * 255).astype(np.uint8),
                          np.zeros(10, np.int32))
  mean, std = data.channel_stats(split, chunk=3)
  x = split.images / 255.0
  np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-6)
  np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)), rtol=1e-5)


# Batching.

def test_batches_are_fixed_size_and_deterministic():
  n = 10
  split = data.ArraySplit(np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2, 1) / 40,
                          np.arange(n))
  drop = list(split.batches(4, seed=7, epoch=0))
  assert len(drop) == 2 == split.num_batches(4)
  assert all(b["image"].shape == (4, 2, 2, 1) and b["label"].shape == (4,)
             for b in drop)
  again = list(split.batches(4, seed=7, epoch=0))
  for a, b in zip(drop, again):
    np.testing.assert_array_equal(a["label"], b["label"])
  other_epoch = np.concatenate([b["label"] for b in split.batches(4, seed=7, epoch=1)])
  assert not np.array_equal(np.concatenate([b["label"] for b in drop]), other_epoch)
  # Images stay with their labels.
  for b in drop:
    np.testing.assert_allclose(b["image"][:, 0, 0, 0], b["label"] * 4 / 40, rtol=1e-6)
  pad = list(split.batches(4, seed=7, epoch=0, remainder="pad"))
  assert len(pad) == 3 and all(b["label"].shape == (4,) for b in pad)
  labels = np.concatenate([b["label"][b["mask"]] for b in pad])
  np.testing.assert_array_equal(np.sort(labels), np.arange(n))
  assert pad[-1]["mask"].tolist() == [True, True, False, False]
  assert (pad[-1]["image"][~pad[-1]["mask"]] == 0).all()
  ordered = np.concatenate([b["label"] for b in split.batches(
      4, shuffle=False, remainder="pad")])
  np.testing.assert_array_equal(ordered[:n], np.arange(n))


def test_iterate_epochs_and_indices():
  split = data.ArraySplit(np.zeros((9, 2, 2, 1), np.float32), np.arange(9))
  seen = list(data.iterate_epochs(split, 3, num_epochs=3, seed=2, start_epoch=1))
  assert [e for e, _ in seen] == [1, 1, 1, 2, 2, 2]
  indices, mask = data.batch_indices(9, 3, seed=2, epoch=2)
  np.testing.assert_array_equal(
      np.concatenate([b["label"] for e, b in seen if e == 2]), indices.ravel())
  assert mask.all()
  with pytest.raises(ValueError, match="batch_size"):
    next(split.batches(10))
  with pytest.raises(ValueError, match="remainder"):
    next(split.batches(3, remainder="keep"))
