"""The quick job: the README's first command.

  python -m experiments.main --config=experiments/configs/quick.py --workdir=runs/quick

Until the search exists, it shows the IRL-free part of the pipeline: the
ResNet expert block (Sec. 4.1), its state features and discounted feature
count (Sec. 3.2, Eq. 2) and its drawing, written to the workdir.
"""

from ml_collections import config_dict


def get_config() -> config_dict.ConfigDict:
  config = config_dict.ConfigDict()
  config.job = "expert"
  config.experts = ("resnet",)  # names from irlas_jax.spaces.experts.names()
  config.t_max = 24  # Sec. 4.1: maximum layer index of a block.
  config.encoding = "relative_depth"  # irlas_jax.features.encodings()
  config.gamma = 0.9  # discount of the feature count (Eq. 2)
  return config
