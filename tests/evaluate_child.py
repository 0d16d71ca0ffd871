"""Losses after 3 steps of 6 architectures (arch batch 8), for tests/test_evaluate.py.

  [XLA_FLAGS=--xla_force_host_platform_device_count=4] python tests/evaluate_child.py MODE OUT
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from irlas_jax.evaluate.proxy import ProxyEvaluator, default_config  # noqa: E402
from irlas_jax.spaces import sample_uniform, unstack_blocks  # noqa: E402

if __name__ == "__main__":
  mode, out = sys.argv[1], sys.argv[2]
  config = default_config()
  config.mode, config.arch_batch, config.epochs = mode, 8, 1
  config.network_overrides.widths = (8,)
  config.network_overrides.repeats = (1,)
  evaluator = ProxyEvaluator(config, t_max=3, log=lambda _: None)
  blocks = unstack_blocks(sample_uniform(jax.random.key(5), 6, 3))
  keys = [jax.random.key(i) for i in range(6)]
  results = evaluator._train_dynamic(mode, blocks, keys, 3)
  np.save(out, np.asarray([loss for _, loss in results]))
  print("devices", jax.device_count())
