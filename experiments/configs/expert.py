"""Show an expert block: its layers, feature count and drawing (Sec. 3.2, 4.1).

  python -m experiments.main --config=experiments/configs/expert.py --workdir=runs/expert
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
