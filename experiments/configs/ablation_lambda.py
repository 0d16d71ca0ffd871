"""The lambda ablation (Sec. 4.5, Fig. 3/4, Fig. 6b): lambda = 0, 30, 60.

  python -m experiments.main --config=experiments/configs/ablation_lambda.py --workdir=runs/ablation

Three searches with the same seed and budget and reward acc + lambda * F
(Eq. 9), lambda = 0, 30, 60; the top-4 blocks of each with their proxy
accuracy, latency (batch 16, the CIFAR-10 final network of Sec. 4.2), number
of layers and edges, and whether they hold a residual add; the 12 blocks
drawn. Default: the reduced setting of the quick search (8x8 digits, tiny
proxy network, 8 iterations of 16 blocks, 4 epochs each), about 15 minutes
on a 2-core CPU. ``:paper``: the paper's scale (CIFAR-10 through tfds, the
full 178-iteration schedule, latency in the ImageNet-mobile network scaled
to 5M parameters at 224 x 224): GPU/TPU days. ``:test``: seconds.
"""

from ml_collections import config_dict

from experiments.configs import quick
from experiments.configs import search_cifar10
from experiments.configs import test as test_config
from irlas_jax import distributed


def get_config(arg: str = ""):
  arg = arg or ""
  config = config_dict.ConfigDict()
  config.job = "ablation"
  config.lams = (0.0, 30.0, 60.0)  # Sec. 4.5
  config.top_k = 4  # Sec. 4.5: "top-4 models" of each search
  config.search = search_cifar10.get_config() if "paper" in arg else quick.get_config()
  config.search.tensorboard = False
  config.latency = config_dict.ConfigDict()
  config.latency.network = "cifar10"  # the Sec. 4.2 network, 10 blocks
  config.latency.network_overrides = config_dict.ConfigDict()
  config.latency.param_budget = config_dict.FieldReference(None, field_type=int)
  config.latency.image_size = 32
  config.latency.channels = 3
  config.latency.num_classes = 10
  config.latency.batch_size = 16  # Table 2
  config.latency.warmup = 2
  config.latency.rounds = 3
  config.latency.calls_per_round = 3
  config.distributed = distributed.default_config()
  if "paper" in arg:
    config.latency.network = "imagenet_mobile"  # Fig. 6b: ImageNet mobile, ~5M params
    config.latency.param_budget = 5_000_000
    config.latency.image_size, config.latency.num_classes = 224, 1000
    config.latency.rounds, config.latency.calls_per_round = 10, 5
  if "test" in arg:
    config.search = test_config.get_config()  # the end-to-end test's tiny search
    config.search.evaluator.data.max_examples = 300
    config.top_k = 2
    config.latency.network = "tiny"
    config.latency.image_size, config.latency.batch_size = 8, 2
    config.latency.warmup, config.latency.rounds, config.latency.calls_per_round = 1, 1, 1
  return config
