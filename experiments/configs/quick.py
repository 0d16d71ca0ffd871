"""The quick IRLAS search: the README's first command (minutes on a laptop CPU).

  python -m experiments.main --config=experiments/configs/quick.py --workdir=runs/quick

Fits the mirror stimuli function on the ResNet expert (Alg. 1), then runs a
short Q-learning search with reward acc + 30 * F (Eq. 9) on the embedded 8x8
digits: 8 iterations of 16 blocks (the BlockQNN epsilon schedule compressed
to 8 iterations), each block trained for real (the tiny network, Adam, 4
epochs instead of the paper's 12, to stay within minutes).
"""

from experiments.configs import search_common


def get_config():
  config = search_common.search_config()
  config.batch_size = 16
  config.qlearning.schedule = ((4, 1.0), (1, 0.7), (1, 0.4), (2, 0.1))
  config.qlearning.updates_per_iteration = 16
  config.evaluator.network = "tiny"
  config.evaluator.epochs = 4
  config.evaluator.mode = "map"  # measured fastest here; "auto" measures it again
  config.evaluator.arch_batch = 8
  config.top_k = 4
  return config
