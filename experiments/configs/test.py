"""A tiny config that the end-to-end test runs (seconds on a CPU)."""

from experiments.configs import quick


def get_config():
  config = quick.get_config()
  config.experts = ("resnet", "resnet_modify3")
  config.t_max = 6
  return config
