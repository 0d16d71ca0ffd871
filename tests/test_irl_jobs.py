"""The irl and analysis_msf jobs end to end, at a small t_max."""

import json

from experiments import jobs
from experiments.configs import analysis_msf as analysis_config
from experiments.configs import irl as irl_config
from irlas_jax.irl.mirror_stimuli import MirrorStimuli


def _small(config):
  config.irl.t_max = 8
  config.irl.num_random = 500
  return config


def test_irl_job_writes_the_msf_and_its_record(tmp_path, capsys):
  jobs.run(_small(irl_config.get_config()), str(tmp_path))
  out = capsys.readouterr().out
  assert "irl round   1: delta" in out and "= the expert" in out
  msf = MirrorStimuli.load(str(tmp_path / "mirror_stimuli.json"),
                           encoding="relative_depth", t_max=8)
  info = json.loads((tmp_path / "irl_info.json").read_text())
  for key in ("delta_history", "eps", "chosen_round", "wall_time_s"):
    assert key in info
  assert info["optimal_is_expert"] and info["expert_vs_random"]["rank"] == 0
  assert info["w_history"][info["chosen_round"] - 1] == [float(x) for x in msf.w]
  for png in ("irl_delta.png", "irl_optimum.png"):
    assert (tmp_path / png).stat().st_size > 1000


def test_analysis_job_reports_every_encoding_and_edit(tmp_path, capsys):
  config = _small(analysis_config.get_config())
  config.encodings = ("relative_depth", "onehot")
  jobs.run(config, str(tmp_path))
  saved = json.loads((tmp_path / "analysis_msf.json").read_text())
  assert set(saved) == {"relative_depth", "onehot"}
  for encoding in saved:
    assert set(saved[encoding]["changes"]) == set(config.modifications)
    for row in saved[encoding]["changes"].values():
      assert row["f_change"] >= 0 and row["mu_change"] > 0
  assert saved["relative_depth"]["optimal_is_expert"]
  assert (tmp_path / "analysis_msf.png").stat().st_size > 1000
  assert "relative_depth" in capsys.readouterr().out
