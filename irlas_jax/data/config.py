"""Data settings: one ``ml_collections.ConfigDict`` per data set (Sec. 4.2).

``default_config(name)`` returns every field below with that data set's
defaults; ``check_config`` raises ``ValueError`` naming the first bad field.

Source and splits:
  name: ``"digits"`` (scikit-learn's 8x8 digits, embedded, no download),
    ``"cifar10"``, ``"imagenet2012"`` (tfds) or ``"image_folder"``
    (``root/split/label/image.jpg``, read with tfds' ``ImageFolder``).
  data_dir: tfds data directory (``None``: tfds' default,
    ``~/tensorflow_datasets`` or ``$TFDS_DATA_DIR``).
  manual_dir: where ``imagenet2012``'s manual download lies (only used in the
    "how to prepare it" message; ``None``: ``data_dir/downloads/manual``).
  root: folder of an ``image_folder`` data set.
  train_split: split read as the training pool (a tfds split string such as
    ``"train"`` or ``"train[:10%]"``, or a sub-folder name of ``root``).
  validation_split: split read as the validation set; ``None`` carves
    ``validation_fraction`` of the training pool out instead, class-stratified
    and fixed by ``seed`` (for streamed tfds splits: the last examples of the
    pool, by slicing, whatever the seed).
  test_split: optional held-out split (``None``: no test split).
  validation_fraction: in ``[0, 1)``; 0 and ``validation_split=None`` means
    no validation set.
  seed: fixes the validation carve, the ``max_examples`` subsets and (as the
    default of ``Split.batches``) the shuffling.
  max_examples: cap on the training pool (before the carve), class-balanced;
    ``None``: all.
  max_eval_examples: cap on ``validation_split`` / ``test_split`` when they
    are read from the source, class-balanced; ``None``: all.
  materialize: ``True`` reads every split into numpy arrays, ``False``
    streams with tf.data; ``None`` (auto): stream ``imagenet2012``,
    materialise the others.
  image_size: side of the square images returned (``None``: native size;
    required for ``imagenet2012`` and for folders of mixed sizes).
  batch_size: training batch size (a convenience for callers: ``Split.batches``
    takes it explicitly).
  shuffle_buffer: tf.data shuffle buffer of streamed splits.

Augmentation and normalisation (Sec. 4.2, applied on device by
:func:`irlas_jax.data.augmentation.augment` and ``preprocess``):
  crop_padding: zero padding of the random crop (4 for 32x32; 0: no crop).
  flip: random horizontal flip.
  cutout_size: side of the Cutout square (DeVries & Taylor, 2017; 16 for
    CIFAR-10; 0: no Cutout).
  normalize: subtract ``mean`` and divide by ``std`` per channel.
  mean, std: per-channel statistics of the [0, 1] pixels (tuples of length
    C); ``None`` with ``normalize`` is an error
    (``irlas_jax.data.channel_stats`` computes them from a split).
"""

from __future__ import annotations

import ml_collections

NAMES = ("digits", "cifar10", "imagenet2012", "image_folder")
TFDS_NAMES = ("cifar10", "imagenet2012")

# Per-channel statistics of the [0, 1] training pixels.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_config(name: str = "digits") -> ml_collections.ConfigDict:
  """Defaults of data set ``name`` (one of ``NAMES``)."""
  if name not in NAMES:
    raise ValueError(f"config.name must be one of {NAMES}, got {name!r}")
  c = ml_collections.ConfigDict()
  c.name = name
  c.data_dir = None
  c.manual_dir = None
  c.root = None
  c.train_split = "train"
  c.validation_split = None
  c.test_split = None
  c.validation_fraction = 0.1
  c.seed = 0
  c.max_examples = None
  c.max_eval_examples = None
  c.materialize = None
  c.image_size = None
  c.batch_size = 128
  c.shuffle_buffer = 10_000
  # Sec. 4.2: "randomly cropping size of 32 x 32, horizontal flipping and
  # Cutout"; the padding and the Cutout side are not given in the paper:
  # 4 and 16 are the standard CIFAR-10 values (DeVries & Taylor, 2017).
  c.crop_padding = 4
  c.flip = True
  c.cutout_size = 16
  c.normalize = False
  c.mean = None
  c.std = None
  if name == "digits":
    # 1797 images: a fifth for validation; digits are not mirror-symmetric
    # and 8x8 leaves no room for a 16-pixel Cutout.
    c.validation_fraction = 0.2
    c.batch_size = 64
    c.crop_padding = 1
    c.flip = False
    c.cutout_size = 0
  elif name == "cifar10":
    # 5,000 of the 50,000 training images for the proxy's validation.
    c.test_split = "test"
    c.batch_size = 256  # Sec. 4.2 (final training)
    c.mean, c.std = CIFAR10_MEAN, CIFAR10_STD
  elif name == "imagenet2012":
    c.validation_split = "validation"
    c.validation_fraction = 0.0
    # Sec. 4.2: 224 x 224 inputs, random crop and flip, centre crop at test.
    # Loading resizes the shorter side to image_size and centre-crops; an
    # Inception-style random-resized crop is not implemented here.
    c.image_size = 224
    c.batch_size = 256
    c.crop_padding = 0
    c.cutout_size = 0
    c.mean, c.std = IMAGENET_MEAN, IMAGENET_STD
  return c


def _is_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def _check_positive_int(config, field: str, allow_none: bool = True,
                        allow_zero: bool = False) -> None:
  value = config[field]
  if value is None and allow_none:
    return
  low = 0 if allow_zero else 1
  if not _is_int(value) or value < low:
    kind = "a non-negative" if allow_zero else "a positive"
    none = " or None" if allow_none else ""
    raise ValueError(f"config.{field} must be {kind} int{none}, got {value!r}")


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` naming the first field of ``config`` that is bad."""
  missing = [f for f in default_config().keys() if f not in config]
  if missing:
    raise ValueError(f"config lacks field(s) {missing}; start from "
                     "irlas_jax.data.default_config(name)")
  if config.name not in NAMES:
    raise ValueError(f"config.name must be one of {NAMES}, got {config.name!r}")
  if not isinstance(config.train_split, str) or not config.train_split:
    raise ValueError(f"config.train_split must be a split name, got "
                     f"{config.train_split!r}")
  for field in ("validation_split", "test_split", "data_dir", "manual_dir",
                "root"):
    if config[field] is not None and not isinstance(config[field], str):
      raise ValueError(f"config.{field} must be a string or None, got "
                       f"{config[field]!r}")
  f = config.validation_fraction
  if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f < 1.0:
    raise ValueError(f"config.validation_fraction must be in [0, 1), got {f!r}")
  _check_positive_int(config, "seed", allow_none=False, allow_zero=True)
  for field in ("max_examples", "max_eval_examples", "image_size"):
    _check_positive_int(config, field)
  for field in ("batch_size", "shuffle_buffer"):
    _check_positive_int(config, field, allow_none=False)
  for field in ("crop_padding", "cutout_size"):
    _check_positive_int(config, field, allow_none=False, allow_zero=True)
  for field in ("flip", "normalize"):
    if not isinstance(config[field], bool):
      raise ValueError(f"config.{field} must be a bool, got {config[field]!r}")
  if config.materialize is not None and not isinstance(config.materialize, bool):
    raise ValueError(f"config.materialize must be a bool or None, got "
                     f"{config.materialize!r}")
  if config.name == "image_folder" and not config.root:
    raise ValueError("config.root must name the image folder (laid out as "
                     "root/split/label/image.jpg) when config.name is "
                     "'image_folder'")
  if config.name == "imagenet2012" and config.image_size is None:
    raise ValueError("config.image_size must be set for imagenet2012 (its "
                     "images have different sizes)")
  if config.normalize:
    check_stats(config.mean, config.std)


def check_stats(mean, std, channels: int | None = None) -> None:
  """Raises ``ValueError`` naming ``mean`` or ``std`` if either is unusable."""
  for field, value in (("mean", mean), ("std", std)):
    if value is None:
      raise ValueError(f"config.{field} is None but config.normalize is True; "
                       "set it (irlas_jax.data.channel_stats computes it)")
    if (not isinstance(value, (tuple, list)) or not value
        or not all(isinstance(v, (int, float)) for v in value)):
      raise ValueError(f"config.{field} must be a tuple of floats, got {value!r}")
    if channels is not None and len(value) not in (1, channels):
      raise ValueError(f"config.{field} has {len(value)} entries, the images "
                       f"have {channels} channels")
  if any(s <= 0 for s in std):
    raise ValueError(f"config.std must be positive, got {std!r}")
