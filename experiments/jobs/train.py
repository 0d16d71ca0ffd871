"""Final training (Sec. 4.2) and the ImageNet-mobile transfer: one job.

The work is :func:`irlas_jax.evaluate.final_training.train_and_evaluate`;
this job starts the multi-host runtime if the config asks for it, trains,
and prints where the outputs went. Configs: ``train_cifar10.py`` and
``imagenet_mobile.py``.
"""

import os

from irlas_jax import distributed
from irlas_jax.evaluate import final_training


def run(config, workdir):
  distributed.initialize(config.get("distributed"))
  result = final_training.train_and_evaluate(config, workdir)
  final = result["final"]
  if final is not None:
    print(f"\nfinal {config.eval_split} accuracy {final['eval_accuracy']:.2f}% after "
          f"{final['epoch']} epochs ({result['params']:,} parameters); wrote "
          f"{os.path.join(workdir, 'final_training.json')}, metrics.jsonl, checkpoints/")
  return result
