"""End-to-end test of the entry point with the tiny config."""

import json
import os
import subprocess
import sys

import pytest

from experiments import jobs
from experiments.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_expert_job_writes_its_outputs(tmp_path, capsys):
  config = test_config.get_config()
  summary = jobs.run(config, str(tmp_path))
  out = capsys.readouterr().out
  assert "expert 'resnet'" in out and "op=add" in out
  for name in config.experts:
    png = tmp_path / f"expert_{name}.png"
    assert png.stat().st_size > 1000
  saved = json.loads((tmp_path / "experts.json").read_text())
  assert saved == json.loads(json.dumps(summary))
  assert saved["experts"]["resnet"]["layers"] == [
      ["dwconv3x3", 0, 0], ["dwconv3x3", 1, 0], ["add", 2, 0]]
  assert json.loads((tmp_path / "config.json").read_text())["t_max"] == 6


def test_unknown_job_is_a_clear_error(tmp_path):
  config = test_config.get_config()
  config.job = "serach"
  with pytest.raises(ValueError, match="config.job='serach' is not a known job"):
    jobs.run(config, str(tmp_path))


def test_command_line_with_overrides(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.main",
       "--config=experiments/configs/test.py", f"--workdir={tmp_path}",
       "--config.encoding=onehot", "--config.experts=('densenet',)"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "expert 'densenet'" in result.stdout
  assert "kind=concat" in result.stdout
  assert json.loads((tmp_path / "experts.json").read_text())["encoding"] == "onehot"
