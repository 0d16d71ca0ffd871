"""A tiny search that the end-to-end test runs (real training, seconds-to-a-minute)."""

from experiments.configs import quick


def get_config():
  config = quick.get_config()
  config.t_max = 6
  config.irl.t_max = 6
  config.irl.num_random = 1000
  config.batch_size = 4
  config.qlearning.schedule = ((1, 1.0), (1, 0.1))
  config.qlearning.replay_batch = 8
  config.evaluator.epochs = 1
  config.evaluator.arch_batch = 4
  config.evaluator.network_overrides.widths = (8,)
  config.evaluator.network_overrides.repeats = (1,)
  config.top_k = 2
  config.tensorboard = False
  return config
