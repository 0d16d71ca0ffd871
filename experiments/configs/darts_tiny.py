"""The DARTS search with the topology loss at toy scale (minutes on a 2-core CPU).

  python -m experiments.main --config=experiments/configs/darts_tiny.py --workdir=runs/darts_tiny

The CIFAR-10 setting (``darts_cifar10.py``) shrunk to run on the embedded
8x8 digits: a 3-cell supernet (normal, reduction, reduction) with C = 4,
batch 64, 8 epochs, first order, alpha learning rate 0.01; everything else as DARTS and the paper
(topology weight 0.5, K = 5, alpha by Adam 3e-4, weights by SGD 0.025
cosine). About 3 minutes here, a minute of which is XLA compiling the
supernet.
"""

from experiments.configs import darts_cifar10
from irlas_jax import data


def get_config():
  config = darts_cifar10.get_config()
  config.data = data.default_config("digits")
  config.darts.channels = 4
  config.darts.layers = 3
  config.darts.batch_size = 64
  config.darts.epochs = 8
  config.darts.order = 1
  # 8 epochs of 14 steps are 112 alpha steps where DARTS takes 19,550: with
  # Adam's lr 3e-4 alpha would barely leave its 1e-3 initialisation, so the
  # tiny setting raises it (Adam moves each alpha by about lr per step).
  config.darts.arch_learning_rate = 0.01
  return config
