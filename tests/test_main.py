"""End to end: the entry point runs the (tiny) search, and the expert job."""

import json
import os
import subprocess
import sys

import pytest

from experiments import jobs
from experiments.configs import expert as expert_config
from experiments.configs import quick as quick_config
from experiments.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tiny_search_end_to_end_with_real_training(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.main", "--config=experiments/configs/test.py",
       f"--workdir={tmp_path}", "--config.lam=30"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  assert "irl round" in out and "iteration    2/2" in out
  best = json.loads((tmp_path / "best_blocks.json").read_text())
  assert len(best) == 2
  for row in best:
    assert 0.0 <= row["accuracy"] <= 100.0 and row["params"] > 0 and row["flops"] > 0
    assert row["reward"] == pytest.approx(row["accuracy"] + 30.0 * row["f_topology"],
                                          rel=1e-5)
  for name in ("mirror_stimuli.json", "irl_info.json", "metrics.jsonl", "curves.png",
               "best_block_1.png", "config.json"):
    assert (tmp_path / name).exists(), name
  # Run again on the same workdir: the MSF is loaded and the search resumes
  # at its end (nothing is trained again).
  again = subprocess.run(
      [sys.executable, "-m", "experiments.main", "--config=experiments/configs/test.py",
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "mirror stimuli function loaded" in again.stdout
  assert "resumed at iteration 2" in again.stdout


def test_quick_config_is_a_real_search():
  config = quick_config.get_config()
  iterations = sum(n for n, _ in config.qlearning.schedule)
  assert iterations >= 8 and config.batch_size >= 16 and config.evaluator.epochs >= 1
  assert config.lam == 30.0 and config.evaluator.data.name == "digits"


def test_expert_job_writes_its_outputs(tmp_path, capsys):
  config = expert_config.get_config()
  config.experts, config.t_max = ("resnet", "resnet_modify3"), 6
  jobs.run(config, str(tmp_path))
  out = capsys.readouterr().out
  assert "expert 'resnet'" in out and "op=add" in out
  for name in config.experts:
    assert (tmp_path / f"expert_{name}.png").stat().st_size > 1000
  saved = json.loads((tmp_path / "experts.json").read_text())
  assert saved["experts"]["resnet"]["layers"] == [
      ["dwconv3x3", 0, 0], ["dwconv3x3", 1, 0], ["add", 2, 0]]


def test_unknown_job_is_a_clear_error(tmp_path):
  config = test_config.get_config()
  config.job = "serach"
  with pytest.raises(ValueError, match="config.job='serach' is not a known job"):
    jobs.run(config, str(tmp_path))
