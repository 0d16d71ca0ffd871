"""Fields shared by every search config (Sec. 3.4, 4.1)."""

from ml_collections import config_dict

from irlas_jax import distributed
from irlas_jax.evaluate import proxy
from irlas_jax.irl import inverse_rl
from irlas_jax.strategies import evolution
from irlas_jax.strategies import qlearning


def search_config() -> config_dict.ConfigDict:
  config = config_dict.ConfigDict()
  config.job = "search"
  config.seed = 0
  config.space = "block"
  config.t_max = 24  # Sec. 4.1: maximum layer index of a block
  config.strategy = "qlearning"  # or "evolution", "random" (these need num_iterations)
  config.batch_size = 64  # Sec. 4.1: blocks per iteration
  config.num_iterations = None  # None: the strategy's schedule (178 for Q-learning)
  config.lam = 30.0  # Sec. 4.1: lambda of Eq. 9
  config.normalize_f = False  # z-score F under the random policy
  config.top_k = 8
  config.tensorboard = True  # event files in <workdir>/tensorboard, where TF is installed
  config.qlearning = qlearning.default_config()
  config.evolution = evolution.default_config()  # Real et al. 2019 (Sec. 3.5)
  config.irl = inverse_rl.default_config()
  config.evaluator = proxy.default_config()
  config.distributed = distributed.default_config()  # multi-host: see README
  return config
