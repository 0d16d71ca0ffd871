"""A tiny final training, run as a subprocess by tests/test_train.py.

  [XLA_FLAGS=--xla_force_host_platform_device_count=4] python tests/train_child.py WORKDIR

The tiny config of tests/test_train.py for 2 epochs; writes ``result.json``
(device count, per-epoch metrics, and every parameter as a flat list).
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.path.join(
    tempfile.gettempdir(), "irlas_jax_test_compilation_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

import numpy as np  # noqa: E402

from irlas_jax.evaluate import final_training  # noqa: E402
from tests import test_train  # noqa: E402

if __name__ == "__main__":
  workdir = sys.argv[1]
  config = test_train._tiny_config()  # pylint: disable=protected-access
  config.num_epochs = 2
  out = final_training.train_and_evaluate(config, workdir, log=lambda _: None)
  params = [np.asarray(x).ravel().tolist()
            for x in jax.tree_util.tree_leaves(out["state"].params)]
  metrics = [{k: v for k, v in m.items() if k not in ("epoch_s", "train_images_per_s")}
             for m in out["metrics"]]
  with open(os.path.join(workdir, "result.json"), "w") as f:
    json.dump({"devices": jax.device_count(), "metrics": metrics, "params": params,
               "placement_devices": final_training._Placement().num_devices},  # pylint: disable=protected-access
              f)
