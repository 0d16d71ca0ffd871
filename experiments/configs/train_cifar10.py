"""Final training on CIFAR-10 (Sec. 4.2): 10 blocks, SGD, cosine from 0.2, 600 epochs.

  python -m experiments.main --config=experiments/configs/train_cifar10.py --workdir=runs/train_cifar10 \
      --config.model.source=block_file --config.model.block_file=runs/search_cifar10/best_blocks.json

The block: ``model.source`` = ``"block_file"`` (row ``model.rank`` of a
search's ``best_blocks.json``), ``"expert"`` (``model.expert``: an expert
or a complicated block, e.g. ``resnet``, ``nasnet_a_like``) or
``"darts_genotype"`` (``model.genotype``: a genotype string or the
``genotype.txt`` of a darts run; trained in DARTS' evaluation network). CIFAR-10 is
read through tfds (``python -m irlas_jax.data.prepare cifar10
--data_dir=D``, then ``--config.data.data_dir=D``), or from an image folder:
``--config.data.name=image_folder --config.data.root=../shared/data/cifar10-jpeg``.

``:runlocal`` shrinks everything to minutes on a laptop CPU (the tiny
network, 8x8 digits, 10 epochs, learning rate 0.1):

  python -m experiments.main --config=experiments/configs/train_cifar10.py:runlocal --workdir=runs/train_local

``:darts`` trains IRLAS-differential's genotype as DARTS evaluates one
(Table 1): 20 cells of C = 36, auxiliary head (weight 0.4), drop-path 0.2,
SGD from 0.025 with batch 96, weight decay 3e-4, 600 epochs, Cutout:

  python -m experiments.main --config=experiments/configs/train_cifar10.py:darts \
      --workdir=runs/train_darts --config.model.genotype=runs/darts_cifar10/genotype.txt

(``:darts,runlocal`` is the same on digits resized to 32 x 32 with 3 cells
of C = 8, for a CPU.)

A killed run resumes from its workdir and ends where an unbroken run ends.
"""

from irlas_jax import data
from irlas_jax import distributed
from irlas_jax.evaluate import final_training


def get_config(arg: str = ""):
  config = final_training.default_config()  # every Sec. 4.2 number, as defaults
  config.job = "train"
  config.runlocal = "runlocal" in (arg or "")
  config.distributed = distributed.default_config()
  if config.runlocal:
    config.model.network = "tiny"
    config.num_epochs = 10
    config.batch_size = 64
    config.learning_rate = 0.1
    config.log_every_steps = 0
    config.data = data.default_config("digits")
    config.data.validation_fraction = 0.2
    config.eval_split = "validation"
  if "darts" in (arg or ""):
    # DARTS' evaluation recipe (Liu et al. 2019, train.py), for Table 1's
    # IRLAS-differential.
    config.model.source = "darts_genotype"
    config.learning_rate = 0.025
    config.batch_size = 96
    config.weight_decay = 3e-4
    if config.runlocal:
      config.model.darts.layers, config.model.darts.channels = 3, 8
      config.batch_size, config.learning_rate = 64, 0.05
      config.data.image_size = 32  # the auxiliary head needs 8x8 after two reductions
  return config
