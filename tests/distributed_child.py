"""A short search with the real proxy evaluator sharded over the local devices.

  [XLA_FLAGS=--xla_force_host_platform_device_count=4] python tests/distributed_child.py WORKDIR
  python tests/distributed_child.py WORKDIR PROCESS_ID NUM_PROCESSES PORT   (multi-process)

Q-learning (tests/search_child.py's tiny config) with a fixed random MSF and
the proxy evaluator in ``map`` mode (the architecture batch split over every
device with shard_map): the tiny network at width 8, three epochs on 200
digits at a learning rate that separates the blocks (accuracies from about
15% to 40%: a mix-up of architectures between devices would show). With
process arguments it joins a ``jax.distributed`` run of several processes
on this machine (CPU collectives over gloo), every process running the same
search. Writes ``result.json`` (``result_<process>.json`` for several
processes): per-iteration metrics, the top blocks, the accuracy of every
evaluated block.
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

from irlas_jax import distributed  # noqa: E402
from irlas_jax.evaluate.proxy import ProxyEvaluator, default_config  # noqa: E402
from irlas_jax.search import search  # noqa: E402
from tests import search_child  # noqa: E402


def evaluator_config():
  config = default_config()
  config.mode, config.arch_batch, config.epochs = "map", 8, 3
  config.batch_size, config.learning_rate = 16, 0.01
  config.network_overrides.widths = (8,)
  config.network_overrides.repeats = (1,)
  config.data.max_examples = 200
  return config


if __name__ == "__main__":
  workdir = sys.argv[1]
  settings = distributed.default_config()  # unset: initialize is a no-op
  result = "result.json"
  if len(sys.argv) > 2:
    process_id, num_processes, port = (int(x) for x in sys.argv[2:5])
    settings.coordinator_address = f"localhost:{port}"
    settings.num_processes, settings.process_id = num_processes, process_id
    result = f"result_{process_id}.json"
  distributed.initialize(settings, log=lambda _: None)
  config = search_child.tiny_config()
  config.qlearning.schedule = ((1, 1.0), (2, 0.1))
  evaluator = ProxyEvaluator(evaluator_config(), search_child.T_MAX, log=lambda _: None)
  summary = search(config, workdir, evaluator, search_child.tiny_msf(), log=lambda _: None)
  metrics = [{k: v for k, v in m.items() if not k.endswith("_s")} for m in summary["metrics"]]
  with open(os.path.join(workdir, result), "w") as f:
    json.dump({"devices": jax.device_count(), "processes": jax.process_count(),
               "metrics": metrics, "top": summary["top"],
               "cache": evaluator.cache}, f)
