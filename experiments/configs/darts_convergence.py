"""The DARTS half of Fig. 5: the tiny search with and without the topology loss.

  python -m experiments.main --config=experiments/configs/darts_convergence.py --workdir=runs/darts_convergence

Runs ``darts_tiny`` (8x8 digits, 3-cell supernet, C = 4, 8 epochs, first
order) with the topology loss (weight 0.5, K = 5; Sec. 4.1) and without it
(weight 0, plain DARTS), with the same seeds (3 each) and the same MSF, and
plots the supernet's validation accuracy and the derived genotype's F per
epoch (mean and per seed). About 15 minutes on a 2-core CPU.
"""

import os
import tempfile

from experiments.configs import darts_tiny


def get_config():
  config = darts_tiny.get_config()
  config.job = "darts_convergence"
  config.seeds = (0, 1, 2)
  config.topology_weights = (0.5, 0.0)  # with (Sec. 4.1) and without the topology loss
  # The conditions share one compiled supernet; the persistent XLA cache also
  # spares reruns the compile (about a minute per program on this CPU).
  config.compilation_cache_dir = os.path.join(tempfile.gettempdir(),
                                              "irlas_jax_xla_cache")
  return config
