"""The darts job end to end at a very small setting, and the convergence summary."""

import json
import os

import numpy as np

from experiments import jobs
from experiments.configs import darts_tiny
from experiments.jobs import darts_convergence
from irlas_jax.spaces import darts as darts_space


def _tiny_config():
  config = darts_tiny.get_config()
  config.data.max_examples = 200  # 100 to train w, 100 to train alpha
  config.irl.num_random = 500
  d = config.darts
  d.channels, d.layers, d.steps, d.multiplier = 4, 1, 2, 2
  d.primitives = ("none", "max_pool_3x3", "skip_connect")  # cheap to compile
  d.batch_size, d.epochs = 32, 1
  d.topology.expected_f_samples = 16
  return config


def test_darts_tiny_run_completes_and_writes_its_genotype(tmp_path):
  workdir = str(tmp_path)
  history = jobs.run(_tiny_config(), workdir)
  assert len(history) == 1
  with open(os.path.join(workdir, "genotype.txt")) as f:
    genotype = darts_space.Genotype.parse(f.read())
  assert genotype.steps == 2 and genotype.normal_concat == (2, 3)
  assert str(genotype) == history[-1]["genotype"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    record = json.loads(f.readline())
  for field in ("train_loss", "val_loss", "val_accuracy", "expected_f", "genotype_f",
                "sample_f", "genotype"):
    assert record[field] is not None, field
  assert np.isfinite(record["train_loss"]) and 0 <= record["val_accuracy"] <= 100
  for name in ("genotype.json", "mirror_stimuli.json", "cells.png",
               os.path.join("cells", "epoch_001.png")):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name


def test_convergence_summary_and_note():
  def run(fs, accs):
    return [{"genotype_f": f, "expected_f": f, "val_accuracy": a, "genotype": "g"}
            for f, a in zip(fs, accs)]
  histories = {0.5: [run([1.0, 2.0], [50, 60]), run([1.2, 2.2], [52, 62]),
                     run([0.8, 1.8], [48, 58])],
               0.0: [run([1.0, 1.0], [50, 60]), run([1.1, 1.1], [52, 63]),
                     run([0.9, 0.9], [48, 57])]}
  summary = darts_convergence.summarise(histories)
  np.testing.assert_allclose(summary["0.5"]["genotype_f"]["mean"], [1.0, 2.0])
  np.testing.assert_allclose(summary["0"]["val_accuracy"]["mean"], [50, 60])
  text = darts_convergence.note(summary, (0.5, 0.0), (0, 1, 2))
  assert "final F of the derived genotype: 2.0000" in text
  assert "with it the value is higher" in text
  assert "supernet validation accuracy (%): 60.0000" in text
  assert "not distinguishable" in text  # the accuracies: 60 vs 60
