"""The paper's search (Sec. 3.4, 4.1): CIFAR-10 through tfds, full schedule.

  python -m experiments.main --config=experiments/configs/search_cifar10.py --workdir=runs/search_cifar10

178 iterations of 64 blocks (BlockQNN's epsilon schedule), reward
acc + lam * F with lam = 30, each block trained for 12 epochs with Adam in
the proxy network. The Sec. 4.5 ablation: ``--config.lam=0`` and
``--config.lam=60``. Needs CIFAR-10 prepared for tfds
(``python -m irlas_jax.data.prepare cifar10 --data_dir=...``, then
``--config.evaluator.data.data_dir=...``); a GPU/TPU is strongly advised.
"""

from experiments.configs import search_common
from irlas_jax import data


def get_config():
  config = search_common.search_config()
  config.evaluator.network = "cifar10_proxy"
  config.evaluator.epochs = 12  # Sec. 4.1
  config.evaluator.mode = "auto"
  config.evaluator.arch_batch = 64
  config.evaluator.data = data.default_config("cifar10")
  return config
