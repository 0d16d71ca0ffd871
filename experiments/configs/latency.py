"""Params, FLOPs and latency of the expert, its edits, searched and complicated blocks (Table 2, Fig. 6b).

  python -m experiments.main --config=experiments/configs/latency.py --workdir=runs/latency \
      [--config.search_workdir=runs/search_cifar10]

Every row is the same network (``network``: the CIFAR-10 final-training
network of Sec. 4.2, 10 blocks, widths 128-512; ``imagenet_mobile`` for the
mobile setting of Table 2) built from one block: the ResNet expert, its three
Sec. 4.3 modifications, the top ``top_k`` blocks of a search workdir's
``best_blocks.json`` (if ``search_workdir`` is set), and a NASNet-A-like and
a DARTS-like cell written in the block space. Inference at batch 16 (Table
2's batch), on whatever device JAX sees, timed in interleaved rounds after
warm-up. Writes ``latency.json`` and ``latency.png``.
"""

from ml_collections import config_dict

from irlas_jax import distributed


def get_config(arg: str = ""):
  config = config_dict.ConfigDict()
  config.job = "latency"
  config.network = "cifar10"  # Sec. 4.2 (irlas_jax.nn.PRESETS)
  config.network_overrides = config_dict.ConfigDict()
  config.image_size = 32
  config.channels = 3
  config.num_classes = 10
  config.batch_size = 16  # Table 2: "validated for 16 batch size"
  config.warmup = 5
  config.rounds = 10  # timed rounds; every row is timed once per round, interleaved
  config.calls_per_round = 5
  config.experts = ("resnet", "resnet_modify1", "resnet_modify2", "resnet_modify3")
  config.complex_blocks = ("nasnet_a_like", "darts_like")
  config.search_workdir = config_dict.FieldReference(None, field_type=str)
  config.top_k = 4
  # Known accuracies (percent) by row name, e.g. from final training runs;
  # searched blocks bring their proxy accuracy from best_blocks.json.
  config.accuracies = config_dict.ConfigDict()
  config.distributed = distributed.default_config()
  if "imagenet" in (arg or ""):
    config.network, config.image_size, config.num_classes = "imagenet_mobile", 224, 1000
  return config
