"""The search driver with a fake evaluator: runs, resumes after SIGKILL, refuses
a mismatched workdir, and drives every strategy through one loop."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from irlas_jax.search import search, write_outputs
from tests import search_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = os.path.join(ROOT, "tests", "search_child.py")


def _final_state(workdir):
  with np.load(os.path.join(workdir, "final_state.npz")) as data:
    return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


def _metrics(workdir):
  lines = open(os.path.join(workdir, "metrics.jsonl")).read().splitlines()
  records = [json.loads(line) for line in lines]
  for r in records:  # wall-clock fields differ between runs
    r.pop("iteration_s"), r.pop("evaluator_s")
  return records


def test_resume_after_sigkill_equals_an_unbroken_run(tmp_path):
  unbroken, killed = str(tmp_path / "unbroken"), str(tmp_path / "killed")
  subprocess.run([sys.executable, CHILD, unbroken], check=True, capture_output=True,
                 timeout=300)
  # Start a run and kill it hard right after checkpoint 3 is written.
  child = subprocess.Popen([sys.executable, CHILD, killed], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
  seen = []
  for line in child.stdout:
    seen.append(line)
    if line.startswith("iteration    3/"):
      child.send_signal(signal.SIGKILL)
      break
  child.wait(timeout=60)
  assert child.returncode == -signal.SIGKILL, seen
  assert not os.path.exists(os.path.join(killed, "final_state.npz"))
  resumed = subprocess.run([sys.executable, CHILD, killed], check=True,
                           capture_output=True, text=True, timeout=300)
  lines = resumed.stdout.splitlines()
  assert lines[0].startswith("resumed at iteration 3"), lines[:2]
  ran = [int(l.split()[1].split("/")[0]) for l in lines if l.startswith("iteration")]
  assert ran == list(range(4, 9))  # no iteration ran twice
  for a, b in zip(_final_state(unbroken), _final_state(killed)):
    np.testing.assert_array_equal(a, b)  # bit for bit
  assert _metrics(unbroken) == _metrics(killed)
  assert [m["iteration"] for m in _metrics(killed)] == list(range(8))


def test_every_block_strategy_runs_through_the_same_driver(tmp_path, capsys):
  msf = search_child.tiny_msf()
  for strategy in ("random", "qlearning", "evolution"):
    workdir = str(tmp_path / strategy)
    summary = search(search_child.tiny_config(strategy), workdir,
                     search_child.fake_evaluator, msf, log=lambda _: None)
    assert len(summary["metrics"]) == 8
    rewards = [r["reward"] for r in summary["top"]]
    assert rewards == sorted(rewards, reverse=True) and len(rewards) == 4
    for r in summary["top"]:  # Eq. 9, term by term
      assert r["reward"] == pytest.approx(r["accuracy"] + 30.0 * r["f_topology"], rel=1e-5)
    rows = write_outputs(workdir, summary, msf, log=print)
    saved = json.load(open(os.path.join(workdir, "best_blocks.json")))
    assert saved == json.loads(json.dumps(rows))
    assert set(saved[0]) >= {"layers", "accuracy", "f_topology", "reward", "params", "flops"}
    assert os.path.getsize(os.path.join(workdir, "curves.png")) > 1000
    assert os.path.getsize(os.path.join(workdir, "best_block_1.png")) > 1000
  assert "reward" in capsys.readouterr().out


def test_cache_skips_blocks_already_evaluated(tmp_path):
  calls = []

  def counting(blocks, key):
    calls.append(blocks.batch_shape[0])
    return search_child.fake_evaluator(blocks, key)

  summary = search(search_child.tiny_config("random"), str(tmp_path), counting,
                   search_child.tiny_msf(), log=lambda _: None)
  evaluated = sum(calls)
  assert evaluated == summary["metrics"][-1]["evaluated_total"]
  assert evaluated < 8 * 8  # t_max 4 random blocks repeat, and are not retrained
  assert sum(m["new_blocks"] for m in summary["metrics"]) == evaluated


def test_a_diverged_network_scores_zero_and_the_search_goes_on(tmp_path):
  def diverging(blocks, key):
    acc = search_child.fake_evaluator(blocks, key)
    acc[0] = np.nan
    return acc

  lines = []
  summary = search(search_child.tiny_config("random"), str(tmp_path), diverging,
                   search_child.tiny_msf(), log=lines.append)
  assert len(summary["metrics"]) == 8
  assert any("diverged" in l for l in lines)


def test_tensorboard_event_files_are_written(tmp_path):
  config = search_child.tiny_config("random")
  config.tensorboard = True
  search(config, str(tmp_path), search_child.fake_evaluator, search_child.tiny_msf(),
         log=lambda _: None)
  events = os.listdir(tmp_path / "tensorboard")
  assert any(name.startswith("events.out.tfevents") for name in events)


def test_a_workdir_with_another_config_is_refused(tmp_path):
  config = search_child.tiny_config("random")
  search(config, str(tmp_path), search_child.fake_evaluator, search_child.tiny_msf(),
         log=lambda _: None)
  config.lam = 60.0
  with pytest.raises(ValueError, match="another config.*lam: 30.0 in the workdir, 60.0 now"):
    search(config, str(tmp_path), search_child.fake_evaluator, search_child.tiny_msf(),
           log=lambda _: None)
