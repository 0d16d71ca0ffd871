"""IRLAS-differential: the DARTS search with the topology loss on CIFAR-10 (Sec. 3.5, 4.1).

  python -m experiments.main --config=experiments/configs/darts_cifar10.py --workdir=runs/darts_cifar10

"All the other training details and hyperparameters follow the original
paper" (Sec. 4.1): DARTS' search (Liu et al. 2019): an 8-cell supernet with
C = 16 on a 50/50 split of CIFAR-10's training set, 50 epochs, batch 64,
second order; plus L_topology scaled by 0.5 with K = 5 samples. Plain DARTS
is ``--config.darts.topology.weight=0``; first order is
``--config.darts.order=1``. CIFAR-10 is read through tfds: prepare it once
with ``python -m irlas_jax.data.prepare cifar10 --data_dir=D`` and pass
``--config.data.data_dir=D``. The MSF is fitted in-process on the darts
space's ResNet expert unless ``--config.msf_path`` names one (the irl job
with ``--config.space=darts``). GPU/TPU scale: DARTS reports 4 GPU-days
(second order).
"""

from ml_collections import config_dict

from irlas_jax import data
from irlas_jax.irl import inverse_rl
from irlas_jax.strategies import darts


def get_config():
  config = config_dict.ConfigDict()
  config.job = "darts"
  config.seed = 0
  config.msf_path = ""  # empty: fit the MSF here (Alg. 1 on 'darts_resnet')
  config.irl = inverse_rl.default_config()
  config.irl.space = "darts"
  config.irl.experts = ("darts_resnet",)
  config.irl.t_max = 15  # 4 nodes x 3 layers + 3 concat layers (spaces/darts.py)
  # Under "relative_depth" (the block space's default) the all-skip_connect
  # cell scores above the expert among DARTS cells (op features are not
  # crossed with position); under "positional" the expert is the best cell
  # (measured, tests/test_darts_strategy.py).
  config.irl.encoding = "positional"
  config.data = data.default_config("cifar10")
  config.data.test_split = None  # the search never sees the test set
  config.data.cutout_size = 0  # DARTS' search: crop and flip, no Cutout
  config.data.normalize = True
  config.darts = darts.default_config()  # DARTS' settings, topology weight 0.5, K = 5
  return config
