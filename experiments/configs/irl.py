"""Fit the mirror stimuli function on the ResNet expert (Alg. 1, Sec. 3.3, 4.1).

  python -m experiments.main --config=experiments/configs/irl.py --workdir=runs/irl

Override any field, e.g. ``--config.irl.encoding=positional``,
``--config.irl.experts="('resnet','densenet')"``, ``--config.irl.eps=1e-4``.
The paper reports about 3 hours on a CPU for this step; here it takes
seconds (exact DP as the RL step).


``--config.space=nb201`` or ``--config.space=darts`` fits the MSF of that
search space on its default expert (the ResNet-like cell) at its default
t_max (see ``irlas_jax.spaces.experts.space_default``); ``irl.experts`` and
``irl.t_max`` override those.
"""

from ml_collections import config_dict

from irlas_jax.irl import inverse_rl


def get_config():
  config = inverse_rl.default_config()
  outer = type(config)()
  outer.job = "irl"
  outer.space = "block"  # "block" (Sec. 3.4), "nb201", "darts"
  outer.irl = config
  outer.irl.space = outer.get_ref("space")
  outer.irl.experts = config_dict.placeholder(tuple)  # None: the space's default expert
  outer.irl.t_max = config_dict.placeholder(int)  # None: the space's default t_max
  outer.irl.encoding = config_dict.placeholder(str)  # None: the space's encoding
  outer.irl.rl_step = config_dict.placeholder(str)  # None: "enumerate" if the space can be listed, else "dp"
  return outer
