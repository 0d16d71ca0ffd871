"""Fig. 5 on NAS-Bench-201: does the mirror stimuli function speed up search?

  python -m experiments.main --config=experiments/configs/nb201_convergence.py \\
      --workdir=runs/nb201_convergence

Runs random search, regularized evolution and Q-learning (one action per
edge) on the NAS-Bench-201 table (12-epoch accuracies), each with lambda = 0
and with the MSF at every lambda of ``lams`` (F as a z-score under uniform
cells), ``num_seeds`` seeds each, ``budget`` evaluations per search (repeats
count). Searches see ``search_column`` and the chosen cell is reported on
``report_column``. Writes convergence.json, convergence.png and the fitted
mirror_stimuli.json (fitted by Alg. 1 on the ResNet cell unless
``msf_path`` names one). About a minute on a laptop CPU.

``--config=experiments/configs/nb201_convergence.py:runlocal`` shrinks it to a smoke run (20 seeds, budget 60).
"""

import ml_collections

from experiments.configs import irl as irl_config
from irlas_jax.evaluate import tabular
from irlas_jax.strategies import edge_qlearning
from irlas_jax.strategies import evolution


def get_config(runlocal: str = ""):
  config = ml_collections.ConfigDict()
  config.job = "nb201_convergence"
  config.space = "nb201"
  config.runlocal = bool(runlocal)
  config.table_path = tabular.DEFAULT_PATH
  config.search_column = "cifar10-val"  # what the search sees (NAS-Bench-201 protocol)
  config.report_column = "cifar10-test"  # what the chosen cell reports
  config.msf_path = ""  # empty: fit by Alg. 1 (config.irl) and save into the workdir
  config.irl = irl_config.get_config().irl
  config.irl.space = "nb201"
  config.strategies = ("random", "evolution", "edge_qlearning")
  config.lams = (0.0, 1.0, 3.0, 10.0, 30.0)  # accuracy points per std of F; 0 = no MSF
  config.num_seeds = 20 if runlocal else 1000
  config.budget = 60 if runlocal else 500  # evaluations per search
  config.seed = 0
  # Proposals per iteration: 8 for Q-learning (the budget-scaled
  # schedule); evolution is sequential (1, exactly Real et al.'s algorithm).
  config.batch_sizes = ml_collections.ConfigDict(
      {"random": 8, "evolution": 1, "edge_qlearning": 8})
  config.evolution = evolution.default_config()
  config.evolution.population_size = 10  # small P, S suit a 500-evaluation budget
  config.evolution.sample_size = 3
  config.edge_qlearning = edge_qlearning.default_config()
  # Report: mean best-so-far accuracy at these evaluation counts.
  config.checkpoints = (25, 50, 100, 200, 500) if not runlocal else (10, 30, 60)
  return config
