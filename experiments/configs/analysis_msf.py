"""The Sec. 4.3 analysis (Fig. 6a), for every feature encoding.

  python -m experiments.main --config=experiments/configs/analysis_msf.py --workdir=runs/analysis_msf

For each encoding: fit the MSF on the ResNet expert, then report the relative
change of F and of the feature count mu between the expert and its three
modifications (a conv before / after the residual function, the shortcut
removed), the block with the highest F, and the expert's rank among random
blocks. Writes analysis_msf.json and analysis_msf.png.
"""

from irlas_jax import features
from irlas_jax.irl import inverse_rl


def get_config():
  config = inverse_rl.default_config()
  outer = type(config)()
  outer.job = "analysis_msf"
  outer.encodings = features.encodings()
  outer.modifications = ("resnet_modify1", "resnet_modify2", "resnet_modify3")
  outer.irl = config
  return outer
