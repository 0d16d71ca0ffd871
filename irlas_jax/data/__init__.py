"""The data layer: data sets for F_accuracy, augmentation (Sec. 4.2), batches.

Usage::

  from irlas_jax import data
  config = data.default_config("digits")      # or "cifar10", "imagenet2012",
  ds = data.load(config)                      #    "image_folder" (+ root)
  for epoch, batch in data.iterate_epochs(ds.train, config.batch_size,
                                          num_epochs=12, seed=config.seed):
    key = jax.random.fold_in(base_key, step)
    x = data.augment(key, batch["image"], config)   # crop, flip, Cutout
    ...
  for batch in ds.validation.batches(256, shuffle=False, remainder="pad"):
    x = data.preprocess(batch["image"], config)     # weight by batch["mask"]

``load(config) -> Dataset`` with ``train``, ``validation`` and ``test``
splits (the last two may be None). Every split yields numpy batches
``{"image": float32[B, H, W, C] in [0, 1], "label": int32[B], "mask": bool[B]}``
of a fixed size ``B`` (``remainder="drop"`` drops an epoch's last partial
batch, ``"pad"`` pads it and marks the padding False in ``mask``), shuffled
per epoch from ``(seed, epoch)``.

Decisions:

* Small data sets are materialised as numpy arrays (digits, CIFAR-10 and
  subsets of either, image folders): the proxy evaluator trains many small
  networks on the same data, so decoding once beats re-reading every epoch.
  ImageNet is streamed with tf.data (``config.materialize`` overrides
  either way).
* Loaders return pixels in [0, 1]; normalisation (per-channel mean / std, a
  config option) happens on device in :func:`augment` / :func:`preprocess`,
  between flip and Cutout, so Cutout zeroes the mean pixel as in DeVries &
  Taylor (2017).
* The digits default is scikit-learn's embedded 8x8 digits: no download.
* TensorFlow (``tensorflow-cpu``, pinned with jax in requirements.txt) is
  used for tfds' ``as_dataset`` and image decoding; it is imported only when
  a tfds or image-folder source is loaded, and its GPUs are hidden from it.
* tfds sources never download: an unprepared one raises ``FileNotFoundError``
  at once, with the command that prepares it (:mod:`.prepare`).
"""

from irlas_jax.data.augmentation import augment
from irlas_jax.data.augmentation import crop
from irlas_jax.data.augmentation import crop_offsets
from irlas_jax.data.augmentation import cutout
from irlas_jax.data.augmentation import cutout_centres
from irlas_jax.data.augmentation import cutout_mask
from irlas_jax.data.augmentation import flip
from irlas_jax.data.augmentation import flip_flags
from irlas_jax.data.augmentation import normalize
from irlas_jax.data.augmentation import preprocess
from irlas_jax.data.augmentation import random_crop
from irlas_jax.data.augmentation import random_cutout
from irlas_jax.data.augmentation import random_flip
from irlas_jax.data.batching import batch_indices
from irlas_jax.data.batching import epoch_order
from irlas_jax.data.batching import iterate_epochs
from irlas_jax.data.batching import num_batches
from irlas_jax.data.config import check_config
from irlas_jax.data.config import default_config
from irlas_jax.data.config import NAMES
from irlas_jax.data.dataset import ArraySplit
from irlas_jax.data.dataset import channel_stats
from irlas_jax.data.dataset import Dataset
from irlas_jax.data.dataset import Split
from irlas_jax.data.dataset import StreamSplit
from irlas_jax.data.selection import balanced_subset
from irlas_jax.data.selection import carve_validation
from irlas_jax.data.sources import list_image_folder
from irlas_jax.data.sources import load
from irlas_jax.data.sources import prepare_instructions
