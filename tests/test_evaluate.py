"""The proxy evaluator: modes agree, cache, NaN isolation, sharding, accuracy."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax.evaluate.proxy import ProxyEvaluator, default_config
from irlas_jax.spaces import experts, from_layers, stack_blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T_MAX = 3


def _config(mode, epochs=1):
  config = default_config()
  config.mode, config.epochs, config.arch_batch = mode, epochs, 4
  config.network_overrides.widths = (8,)  # one stage of one block: compiles fast
  config.network_overrides.repeats = (1,)
  return config


def _blocks():
  return stack_blocks([
      experts.get("resnet", t_max=T_MAX),
      from_layers([("maxpool3x3", 0, 0), ("concat", 1, 0)], t_max=T_MAX),
      from_layers([("dwconv5x5", 0, 0)], t_max=T_MAX),
  ])


@pytest.fixture(scope="module")
def accuracies_by_mode():
  out = {}
  for mode in ("static", "map", "vmap"):
    evaluator = ProxyEvaluator(_config(mode), t_max=T_MAX, log=lambda _: None)
    out[mode] = (evaluator(_blocks()), evaluator)
  return out


def test_every_mode_gives_the_same_accuracies(accuracies_by_mode):
  static = accuracies_by_mode["static"][0]
  assert static.shape == (3,) and np.all((static >= 0) & (static <= 100))
  for mode in ("map", "vmap"):
    np.testing.assert_allclose(accuracies_by_mode[mode][0], static, atol=0.5)


def test_cache_hits_skip_training_and_programs_are_reused(accuracies_by_mode):
  acc, evaluator = accuracies_by_mode["map"]
  program = evaluator._programs["map"]
  calls = []
  original = evaluator._train_dynamic
  evaluator._train_dynamic = lambda *a: calls.append(a) or original(*a)
  again = evaluator(_blocks())
  assert not calls  # every block was a cache hit
  np.testing.assert_array_equal(again, acc)
  # A new block trains, with the same compiled program (no recompilation).
  new = stack_blocks([from_layers([("avgpool3x3", 0, 0), ("identity", 1, 0)], t_max=T_MAX)])
  evaluator(new)
  assert len(calls) == 1 and evaluator._programs["map"] is program
  assert program._cache_size() == 1


class _DivergingEvaluator(ProxyEvaluator):
  """Starts every one-layer block from NaN weights."""

  def initial_variables(self, key, block):
    variables = super().initial_variables(key, block)
    poison = jnp.where(block.length == 1, jnp.nan, 1.0)
    return jax.tree_util.tree_map(lambda x: x * poison, variables)


def test_a_diverging_network_scores_zero_and_spares_the_others(accuracies_by_mode):
  lines = []
  evaluator = _DivergingEvaluator(_config("map"), t_max=T_MAX, log=lines.append)
  acc = evaluator(_blocks())
  assert acc[2] == 0.0 and any("diverged" in line for line in lines)
  np.testing.assert_allclose(acc[:2], accuracies_by_mode["map"][0][:2], atol=1e-6)


def test_sharded_over_four_devices_equals_one_device(tmp_path):
  children = {}
  for name, flags in (("one", ""), ("four", "--xla_force_host_platform_device_count=4")):
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    out = str(tmp_path / f"{name}.npy")
    children[name] = (out, subprocess.Popen(  # both at once: compile-bound
        [sys.executable, os.path.join(ROOT, "tests", "evaluate_child.py"), "vmap", out],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  losses = {}
  for name, (out, child) in children.items():
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr[-2000:]
    assert f"devices {4 if name == 'four' else 1}" in stdout
    losses[name] = np.load(out)
  assert losses["one"].shape == (6,)
  np.testing.assert_allclose(losses["four"], losses["one"], atol=1e-5)


def test_two_blocks_on_digits_reach_fifty_percent():
  config = _config("static", epochs=12)
  config.network_overrides = default_config().network_overrides  # the tiny preset
  evaluator = ProxyEvaluator(config, t_max=6, log=lambda _: None)
  acc = evaluator(stack_blocks([experts.get("resnet", t_max=6),
                                experts.get("densenet", t_max=6)]))
  assert np.all(acc >= 50.0), acc


def test_bad_config_and_blocks_are_clear_errors():
  with pytest.raises(ValueError, match="config.mode='fast'"):
    ProxyEvaluator(_config("fast"), t_max=T_MAX)
  evaluator = ProxyEvaluator(_config("static"), t_max=T_MAX, log=lambda _: None)
  with pytest.raises(ValueError, match="t_max 24"):
    evaluator(stack_blocks([experts.get("resnet")]))
