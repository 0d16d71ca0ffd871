"""Alg. 1 end to end: termination, the returned reward, and its properties.

The properties are the paper's (Sec. 3.3: F is "the highest for the exact
expert network"), checked with independent tools: the DP optimum of the
returned reward, and 10,000 uniform random blocks.
"""

import jax
import numpy as np
import pytest

from irlas_jax import features
from irlas_jax.irl import analysis
from irlas_jax.irl import inverse_rl
from irlas_jax.spaces import experts
from irlas_jax.spaces.block import from_layers, to_layers


def _config(**overrides):
  config = inverse_rl.default_config()
  config.num_random = 2000
  for k, v in overrides.items():
    setattr(config, k, v)
  return config


@pytest.fixture(scope="module")
def default_fit():
  config = inverse_rl.default_config()  # the real settings: t_max 24, 10,000 random blocks
  return inverse_rl.fit(["resnet"], config, log=None)


def test_default_encoding_makes_the_expert_the_best_block(default_fit):
  msf, info = default_fit
  assert msf.encoding == features.DEFAULT_ENCODING and msf.t_max == 24
  assert info["terminated"]
  assert info["delta_history"][-1] + info["gap_history"][-1] <= info["eps"]
  best, best_f = analysis.optimum(msf)
  expert = experts.get("resnet")
  assert to_layers(best) == to_layers(expert)
  assert abs(best_f - float(msf(expert))) <= 1e-6 * max(1.0, abs(best_f))
  rank = analysis.rank_among_random(msf, expert, 10_000, jax.random.key(123))
  assert rank["rank"] == 0, rank  # higher than every one of 10,000 random blocks
  assert rank["f"] > rank["random_max"]


def test_info_records_every_round(default_fit):
  msf, info = default_fit
  rounds = info["rounds"]
  assert len(info["delta_history"]) == len(info["gap_history"]) == rounds
  # A w and an optimal block for every round but the terminating one.
  assert len(info["w_history"]) == len(info["policy_blocks"]) == rounds - 1
  assert len(info["M_history"]) == rounds  # M_0 .. M_{rounds-1}
  assert 1 <= info["chosen_round"] <= rounds - 1
  np.testing.assert_allclose(np.asarray(msf.w), info["w_history"][info["chosen_round"] - 1])
  assert np.all(np.asarray(info["gap_history"]) >= 0)
  assert info["wall_time_s"] > 0


@pytest.mark.parametrize("encoding", features.encodings())
def test_terminates_for_every_encoding(encoding):
  msf, info = inverse_rl.fit(["resnet"], _config(encoding=encoding), log=None)
  assert info["terminated"], info["delta_history"][-3:]
  assert info["delta_history"][-1] + info["gap_history"][-1] <= info["eps"]


@pytest.mark.parametrize("name", experts.names("block"))
def test_terminates_for_every_expert(name):
  msf, info = inverse_rl.fit([name], _config(), log=None)
  assert info["terminated"], (name, info["delta_history"][-3:])


def test_several_experts_fit_their_mean_feature_count():
  names = ["resnet", "mobilenetv2"]
  msf, info = inverse_rl.fit(names, _config(), log=None)
  mean = np.mean([np.asarray(features.feature_count(experts.get(n), 0.9, msf.encoding))
                  for n in names], axis=0)
  np.testing.assert_allclose(info["mu_star"], mean, rtol=1e-6)
  assert info["terminated"]


def test_rl_step_is_pluggable():
  calls = []

  def counting_step(w, key, **kwargs):
    calls.append(1)
    return inverse_rl.dynamic_programming_step(w, key, **kwargs)

  inverse_rl.register_rl_step("counting_dp", counting_step)
  try:
    _, info = inverse_rl.fit(["resnet"], _config(rl_step="counting_dp", max_rounds=3),
                          log=None)
  finally:
    del inverse_rl.RL_STEPS["counting_dp"]
  assert len(calls) == len(info["policy_blocks"]) >= 1


def test_bad_config_is_a_clear_error():
  with pytest.raises(ValueError, match="config.rl_step='sarsa' is not a known RL step"):
    inverse_rl.fit(["resnet"], _config(rl_step="sarsa"))
  with pytest.raises(ValueError, match="unknown feature encoding"):
    inverse_rl.fit(["resnet"], _config(encoding="one_hot"))
  with pytest.raises(ValueError, match="unknown expert 'resnet50'"):
    inverse_rl.fit(["resnet50"], _config())


def test_qlearning_rl_step_runs_alg1():
  import irlas_jax.strategies  # noqa: F401  (registers the step)
  from irlas_jax.strategies import qlearning as ql
  config = _config(rl_step="qlearning", t_max=4, max_rounds=3, num_random=500)
  config.qlearning = ql.default_config()
  config.qlearning.schedule = ((6, 1.0), (6, 0.1))
  config.rl_batch_size = 16
  msf, info = inverse_rl.fit(["resnet"], config, log=None)
  assert info["rl_step"] == "qlearning" and len(info["policy_blocks"]) >= 1
  for layers, m in zip(info["policy_blocks"], info["M_history"][1:]):
    expected = features.feature_count(from_layers(layers, t_max=4), 0.9, msf.encoding)
    np.testing.assert_allclose(m, np.asarray(expected), rtol=1e-5)
