"""The data sources behind :func:`load`: digits, tfds (CIFAR-10, ImageNet),
image folders.

* ``digits``: scikit-learn's 8x8 digits (1,797 images, 10 classes), shipped
  inside scikit-learn, so the quick run needs no download. Pixels 0..16 are
  scaled to [0, 1]; one split ("train"), validation carved from it.
* ``cifar10``, ``imagenet2012``: ``tfds.builder(name, data_dir)``. Whether
  the prepared files exist is checked first (``builder.is_prepared()``); if
  not, ``FileNotFoundError`` says how to prepare them, at once, and nothing
  is ever downloaded by :func:`load`.
* ``image_folder``: ``root/split/label/image.{jpg,jpeg,png}``, the layout of
  ``tfds.folder_dataset.ImageFolder``. The builder gives the label names
  (sorted folder names, shared by all splits) and the split sizes; the files
  are listed here too (the same rules, cross-checked against the builder),
  so that ``max_examples`` picks a class-balanced subset of files before
  decoding any, and decoded with tf.io (JPEGs with the accurate DCT, as PIL
  decodes them).

``max_examples`` subsets are class-balanced: seeded random choices per class
for digits and folders (whose labels are known before decoding); for tfds,
the first examples of each class in tfds' (fixed, pre-shuffled) order, read
until every class has its share. Streamed tfds splits are capped by slicing
(``"train[:n]"``), which is not class-balanced.

Images of other sizes (``image_size``) are resized (bilinear, antialiased) so
that the shorter side is ``image_size``, then centre-cropped to a square.
"""

from __future__ import annotations

import os

import numpy as np

from irlas_jax.data import config as config_lib
from irlas_jax.data import selection
from irlas_jax.data.dataset import ArraySplit, Dataset, StreamSplit

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # those of tfds' ImageFolder
_READ_BATCH = 256
_SUBSET_STREAM, _CARVE_STREAM = 0, 1  # seed streams: (seed, stream)

_tf_module = None


def _tf():
  """TensorFlow, imported on first use, with its GPUs hidden (JAX owns them)."""
  global _tf_module
  if _tf_module is None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):  # devices already initialised
      pass
    _tf_module = tf
  return _tf_module


def load(config) -> Dataset:
  """Loads the data set described by ``config`` (see :mod:`.config`)."""
  config_lib.check_config(config)
  return _LOADERS[config.name](config)


def _materialize(config) -> bool:
  if config.materialize is None:
    return config.name != "imagenet2012"
  return config.materialize


def _finish(config, pool: ArraySplit, validation: ArraySplit | None,
            test: ArraySplit | None, class_names) -> Dataset:
  """Carves the validation set from the pool if needed; checks shapes."""
  train = pool
  if validation is None and config.validation_fraction > 0:
    train_idx, val_idx = selection.carve_validation(
        pool.labels, config.validation_fraction, (config.seed, _CARVE_STREAM),
        len(class_names))
    if len(val_idx) == 0:
      raise ValueError(f"config.validation_fraction={config.validation_fraction} "
                       f"carves no example out of {pool.num_examples}; raise it "
                       "(or config.max_examples)")
    train, validation = pool.take(train_idx), pool.take(val_idx)
  if train.num_examples == 0:
    raise ValueError(f"the training split is empty (config.train_split="
                     f"{config.train_split!r}, max_examples={config.max_examples}, "
                     f"validation_fraction={config.validation_fraction})")
  splits = {"train": train, "validation": validation, "test": test}
  for name, split in splits.items():
    if split is not None and split.image_shape != train.image_shape:
      raise ValueError(f"the {name} images are {split.image_shape}, the train "
                       f"images {train.image_shape}: set config.image_size")
  return Dataset(config.name, train, validation, test, len(class_names),
                 tuple(class_names), train.image_shape)


# digits (embedded)

def _resize_arrays(images: np.ndarray, size: int) -> np.ndarray:
  """Square resize of float32 [0, 1] images (shorter side, centre crop)."""
  import jax  # pylint: disable=g-import-not-at-top
  n, h, w, c = images.shape
  scale = size / min(h, w)
  nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
  out = np.asarray(jax.image.resize(images, (n, nh, nw, c), "linear"))
  top, left = (nh - size) // 2, (nw - size) // 2
  return np.clip(out[:, top:top + size, left:left + size], 0.0, 1.0).astype(np.float32)


def _load_digits(config) -> Dataset:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  if config.train_split != "train":
    raise ValueError(f"config.train_split={config.train_split!r}: digits has "
                     "one split, 'train'")
  for field in ("validation_split", "test_split"):
    if config[field] is not None:
      raise ValueError(f"config.{field}={config[field]!r}: digits has one split "
                       "('train'); set it to None (validation is carved with "
                       "validation_fraction)")
  if config.materialize is False:
    raise ValueError("config.materialize=False: digits is always in memory")
  x, y = datasets.load_digits(return_X_y=True)
  images = (x.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)
  keep = selection.balanced_subset(y, config.max_examples,
                                   (config.seed, _SUBSET_STREAM), 10)
  images, labels = images[keep], y[keep]
  if config.image_size is not None and config.image_size != 8:
    images = _resize_arrays(images, config.image_size)
  return _finish(config, ArraySplit(images, labels), None, None,
                 [str(d) for d in range(10)])


# tf helpers shared by tfds and folders

def _square_uint8(image, size: int | None):
  """uint8 [h, w, c] -> uint8 [size, size, c] (shorter side, centre crop)."""
  tf = _tf()
  if size is None:
    return image
  shape = tf.shape(image)
  h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  scale = size / tf.minimum(h, w)
  nh = tf.maximum(size, tf.cast(tf.round(h * scale), tf.int32))
  nw = tf.maximum(size, tf.cast(tf.round(w * scale), tf.int32))
  out = tf.image.resize(image, tf.stack([nh, nw]), method="bilinear",
                        antialias=True)
  top, left = (nh - size) // 2, (nw - size) // 2
  out = out[top:top + size, left:left + size]
  out = tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)
  return tf.ensure_shape(out, [size, size, image.shape[-1]])


def _decode_image(encoded):
  """uint8 [h, w, 3] from JPEG or PNG bytes.

  JPEGs are decoded with libjpeg's accurate integer DCT, as PIL does (tfds'
  default, the fast DCT, differs from it by up to 4 levels).
  """
  tf = _tf()
  return tf.cond(
      tf.io.is_jpeg(encoded),
      lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE"),
      lambda: tf.ensure_shape(tf.io.decode_image(
          encoded, channels=3, expand_animations=False), [None, None, 3]))


def _to_unit(image):
  tf = _tf()
  return tf.cast(image, tf.float32) / 255.0


def _read_arrays(ds, where: str, quotas: np.ndarray | None = None) -> ArraySplit:
  """Reads a tf.data of ``(uint8 image, label)`` into memory.

  With ``quotas`` (examples wanted per class), keeps the first examples of
  each class until every quota is met and stops reading there.
  """
  tf = _tf()
  images, labels = [], []
  want = None if quotas is None else quotas.copy()
  try:
    for x, y in ds.batch(_READ_BATCH).as_numpy_iterator():
      if want is not None:
        keep = np.zeros(len(y), dtype=bool)
        for i, label in enumerate(y):
          if want[label] > 0:
            want[label] -= 1
            keep[i] = True
        x, y = x[keep], y[keep]
      images.append(x)
      labels.append(y)
      if want is not None and not want.any():
        break
  except tf.errors.InvalidArgumentError as e:
    if "shape" in str(e).lower():
      raise ValueError(f"the images of {where} have different sizes: set "
                       "config.image_size") from e
    raise
  if not images:
    raise ValueError(f"{where} has no examples")
  return ArraySplit(np.concatenate(images), np.concatenate(labels).astype(np.int32))


# tfds: cifar10, imagenet2012

def prepare_instructions(name: str, data_root: str, manual_dir: str | None = None) -> str:
  """How to prepare tfds data set ``name`` in ``data_root``."""
  if name == "imagenet2012":
    manual_dir = manual_dir or os.path.join(data_root, "downloads", "manual")
    return (
        "imagenet2012 cannot be downloaded automatically. Download "
        "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (registration at "
        f"https://image-net.org/download-images), put them in {manual_dir}, "
        "then prepare it once with\n"
        f"  python -m irlas_jax.data.prepare imagenet2012 --data_dir={data_root} "
        f"--manual_dir={manual_dir}\n"
        f"(or `tfds build imagenet2012 --data_dir={data_root} "
        f"--manual_dir={manual_dir}`).")
  return (
      f"Prepare it once (this downloads it) with\n"
      f"  python -m irlas_jax.data.prepare {name} --data_dir={data_root}\n"
      f"(or `tfds build {name} --data_dir={data_root}`, or in Python "
      f"tfds.builder({name!r}, data_dir={data_root!r}).download_and_prepare())."
      + (" The JPEG copy of CIFAR-10 needs no preparation: config.name="
         "'image_folder', config.root='<...>/cifar10-jpeg'." if name == "cifar10"
         else ""))


def tfds_builder(config):
  """The tfds builder of ``config.name``; ``FileNotFoundError`` if unprepared.

  Nothing here downloads: an unprepared data set fails at once.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(config.name, data_dir=config.data_dir)
  if not builder.is_prepared():
    root = os.fspath(builder.data_dir_root)
    raise FileNotFoundError(
        f"tfds data set {config.name} is not prepared in config.data_dir="
        f"{config.data_dir!r} (no prepared files in {builder.data_dir}). "
        + prepare_instructions(config.name, root, config.manual_dir))
  return builder


def _check_tfds_split(builder, split: str, field: str) -> None:
  known = list(builder.info.splits.keys())
  if not known:  # split names unknown (e.g. mocked data): let tfds decide
    return
  for part in split.split("+"):
    base = part.split("[")[0].strip()
    if base not in known:
      raise ValueError(f"config.{field}={split!r}: {builder.name} has no split "
                       f"{base!r}; its splits are {sorted(known)}")


def _tfds_examples(builder, split: str, size: int | None, seed: int | None = None):
  """tf.data of ``(uint8 image, int32 label)``; files shuffled if ``seed``."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tf = _tf()
  read_config = tfds.ReadConfig(shuffle_seed=seed) if seed is not None else None
  ds = builder.as_dataset(split=split, shuffle_files=seed is not None,
                          read_config=read_config)
  return ds.map(lambda ex: (_square_uint8(ex["image"], size),
                            tf.cast(ex["label"], tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE)


def _tfds_num_examples(builder, split: str, make) -> int:
  try:
    return int(builder.info.splits[split].num_examples)
  except (KeyError, ValueError, TypeError):
    n = int(make(None).cardinality())
    if n < 0:
      raise ValueError(f"cannot tell the size of split {split!r} of "
                       f"{builder.name}") from None
    return n


def _tfds_stream(builder, split: str, config) -> StreamSplit:
  tf = _tf()
  size = config.image_size

  def make(seed):
    ds = _tfds_examples(builder, split, size, seed)
    return ds.map(lambda x, y: (_to_unit(x), y), num_parallel_calls=tf.data.AUTOTUNE)

  shape = builder.info.features["image"].shape
  channels = shape[-1] if shape[-1] is not None else 3
  if size is None:
    if None in shape:
      raise ValueError(f"config.image_size must be set to stream {builder.name}")
    image_shape = tuple(shape)
  else:
    image_shape = (size, size, channels)
  return StreamSplit(make, _tfds_num_examples(builder, split, make), image_shape,
                     config.shuffle_buffer)


def _capped(split: str, n: int | None, field: str) -> str:
  if n is None:
    return split
  if "[" in split or "+" in split:
    raise ValueError(f"config.{field} cannot cap the sliced split {split!r} of a "
                     "streamed data set; slice the split name instead")
  return f"{split}[:{n}]"


def _load_tfds(config) -> Dataset:
  builder = tfds_builder(config)
  for field in ("train_split", "validation_split", "test_split"):
    if config[field] is not None:
      _check_tfds_split(builder, config[field], field)
  num_classes = builder.info.features["label"].num_classes
  class_names = tuple(builder.info.features["label"].names)
  if _materialize(config):
    def read(split, n, field):
      quotas = None
      if n is not None:
        quotas = selection.class_quotas(n, np.full(num_classes, n))
      ds = _tfds_examples(builder, split, config.image_size)
      return _read_arrays(ds, f"config.{field}={split!r}", quotas)
    pool = read(config.train_split, config.max_examples, "train_split")
    val = (read(config.validation_split, config.max_eval_examples, "validation_split")
           if config.validation_split else None)
    test = (read(config.test_split, config.max_eval_examples, "test_split")
            if config.test_split else None)
    return _finish(config, pool, val, test, class_names)

  # Streaming: the validation carve is the pool's tail, by slicing.
  train_split = _capped(config.train_split, config.max_examples, "max_examples")
  validation = None
  if config.validation_split:
    validation = _tfds_stream(builder, _capped(
        config.validation_split, config.max_eval_examples, "max_eval_examples"),
        config)
  elif config.validation_fraction > 0:
    if "[" in config.train_split or "+" in config.train_split:
      raise ValueError(f"config.validation_fraction: cannot carve a validation "
                       f"set from the sliced split {config.train_split!r} of a "
                       "streamed data set; set config.validation_split")
    total = _tfds_num_examples(builder, train_split, lambda s: _tfds_examples(
        builder, train_split, config.image_size, s))
    k = int(round(config.validation_fraction * total))
    if k == 0 or k == total:
      raise ValueError(f"config.validation_fraction={config.validation_fraction} "
                       f"carves {k} of {total} examples")
    base = config.train_split
    validation = _tfds_stream(builder, f"{base}[{total - k}:{total}]", config)
    train_split = f"{base}[:{total - k}]"
  train = _tfds_stream(builder, train_split, config)
  test = None
  if config.test_split:
    test = _tfds_stream(builder, _capped(
        config.test_split, config.max_eval_examples, "max_eval_examples"), config)
  return Dataset(config.name, train, validation, test, num_classes, class_names,
                 train.image_shape)


# image folders

def list_image_folder(root: str) -> dict[str, list[tuple[str, str]]]:
  """``{split: [(path, label_name), ...]}`` of ``root/split/label/image``,
  sorted by label then file name (tfds ``ImageFolder``'s rules)."""
  def subdirs(d):
    return sorted(e.name for e in os.scandir(d) if e.is_dir())
  out = {}
  for split in subdirs(root):
    files = []
    for label in subdirs(os.path.join(root, split)):
      d = os.path.join(root, split, label)
      files += [(os.path.join(d, f), label) for f in sorted(os.listdir(d))
                if f.lower().endswith(IMAGE_EXTENSIONS)]
    out[split] = files
  return out


def _load_image_folder(config) -> Dataset:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tf = _tf()
  root = os.path.expanduser(config.root)
  if not os.path.isdir(root):
    raise FileNotFoundError(f"config.root={config.root!r} is not a directory "
                            "(expected root/split/label/image.jpg)")
  listing = list_image_folder(root)
  builder = tfds.folder_dataset.ImageFolder(root)
  class_names = tuple(builder.info.features["label"].names)
  sizes = {k: v.num_examples for k, v in builder.info.splits.items()
           if v.num_examples}
  if sizes != {k: len(v) for k, v in listing.items() if v}:
    raise RuntimeError(f"file listing of {root} disagrees with tfds ImageFolder "
                       f"({sizes})")
  label_id = {name: i for i, name in enumerate(class_names)}
  size = config.image_size

  def files(split, field):
    if "[" in split or "+" in split:
      raise ValueError(f"config.{field}={split!r}: image folders take plain "
                       "split (sub-folder) names")
    if not listing.get(split):
      raise ValueError(f"config.{field}={split!r} is not a non-empty split "
                       f"folder of {root}; it has {sorted(sizes)}")
    paths = np.array([p for p, _ in listing[split]])
    labels = np.array([label_id[l] for _, l in listing[split]], dtype=np.int32)
    return paths, labels

  def subset(paths, labels, n, stream):
    keep = selection.balanced_subset(labels, n, (config.seed, stream),
                                     len(class_names))
    return paths[keep], labels[keep]

  def examples(paths, labels, seed=None):
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if seed is not None:
      ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=False)
    decode = lambda p, y: (_square_uint8(_decode_image(tf.io.read_file(p)),
                                         size), y)
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)

  def stream(paths, labels):
    if size is not None:
      shape = (size, size, 3)
    else:
      shape = next(examples(paths[:1], labels[:1]).as_numpy_iterator())[0].shape
    make = lambda seed: examples(paths, labels, seed).map(
        lambda x, y: (_to_unit(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return StreamSplit(make, len(paths), shape, config.shuffle_buffer)

  pool = subset(*files(config.train_split, "train_split"), config.max_examples,
                _SUBSET_STREAM)
  evals = {}
  for field in ("validation_split", "test_split"):
    if config[field]:
      evals[field] = subset(*files(config[field], field), config.max_eval_examples,
                            _SUBSET_STREAM)
  if _materialize(config):
    read = lambda pl, field: _read_arrays(examples(*pl), f"config.{field}")
    return _finish(config, read(pool, "train_split"),
                   read(evals["validation_split"], "validation_split")
                   if "validation_split" in evals else None,
                   read(evals["test_split"], "test_split")
                   if "test_split" in evals else None, class_names)

  validation = None
  if "validation_split" in evals:
    validation = stream(*evals["validation_split"])
  elif config.validation_fraction > 0:
    train_idx, val_idx = selection.carve_validation(
        pool[1], config.validation_fraction, (config.seed, _CARVE_STREAM),
        len(class_names))
    if len(val_idx) == 0:
      raise ValueError(f"config.validation_fraction={config.validation_fraction} "
                       f"carves no example out of {len(pool[1])}")
    validation = stream(pool[0][val_idx], pool[1][val_idx])
    pool = (pool[0][train_idx], pool[1][train_idx])
  train = stream(*pool)
  test = stream(*evals["test_split"]) if "test_split" in evals else None
  return Dataset(config.name, train, validation, test, len(class_names),
                 class_names, train.image_shape)


_LOADERS = {
    "digits": _load_digits,
    "cifar10": _load_tfds,
    "imagenet2012": _load_tfds,
    "image_folder": _load_image_folder,
}
assert set(_LOADERS) == set(config_lib.NAMES)
