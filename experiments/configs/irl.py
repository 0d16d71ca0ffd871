"""Fit the mirror stimuli function on the ResNet expert (Alg. 1, Sec. 3.3, 4.1).

  python -m experiments.main --config=experiments/configs/irl.py --workdir=runs/irl

Override any field, e.g. ``--config.irl.encoding=positional``,
``--config.irl.experts="('resnet','densenet')"``, ``--config.irl.eps=1e-4``.
The paper reports about 3 hours on a CPU for this step; here it takes
seconds (exact DP as the RL step).
"""

from irlas_jax.irl import inverse_rl


def get_config():
  config = inverse_rl.default_config()
  outer = type(config)()
  outer.job = "irl"
  outer.irl = config
  return outer
