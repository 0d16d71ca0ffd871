"""Prepares a tfds data set once, so that :func:`irlas_jax.data.load` can read it.

  python -m irlas_jax.data.prepare cifar10 --data_dir=/path/to/tfds
  python -m irlas_jax.data.prepare imagenet2012 --data_dir=/path/to/tfds \
      --manual_dir=/path/with/ILSVRC2012_img_{train,val}.tar

This is the only place of the data layer that downloads (``load`` never
does). It replaces ``tfds build``, whose command line in tfds 4.9.10 needs
apache-beam.
"""

from __future__ import annotations

import argparse

from irlas_jax.data import config as config_lib


def prepare(name: str, data_dir: str | None = None,
            manual_dir: str | None = None) -> str:
  """Downloads and prepares tfds data set ``name``; returns its directory."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name not in config_lib.TFDS_NAMES:
    raise ValueError(f"name must be one of {config_lib.TFDS_NAMES}, got {name!r}")
  builder = tfds.builder(name, data_dir=data_dir)
  download_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
  builder.download_and_prepare(download_config=download_config)
  return builder.data_dir


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("name", choices=config_lib.TFDS_NAMES)
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--manual_dir", default=None)
  args = parser.parse_args(argv)
  print(prepare(args.name, args.data_dir, args.manual_dir))


if __name__ == "__main__":
  main()
