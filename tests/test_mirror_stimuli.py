"""Tests of the MirrorStimuli pytree: scoring, batching, save/load."""

import json

import chex
import jax
import numpy as np
import pytest

from irlas_jax import features
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.spaces import experts
from irlas_jax.spaces.block import sample_uniform, to_layers

T_MAX = 6


def _msf(encoding="relative_depth", seed=0):
  k = features.feature_dim(encoding, experts.get("resnet").opset, T_MAX)
  return MirrorStimuli(jax.random.normal(jax.random.key(seed), (k,)), 0.9, encoding, T_MAX)


def _plain_f(w, layers, gamma):
  """Eq. 4 for relative_depth, written out in plain Python."""
  ops = experts.get("resnet").opset
  n_ops = ops.num_ops
  total = 0.0
  for t, (name, p1, p2) in enumerate(layers, start=1):
    op = ops.op_id(name)
    r = w[op] + w[n_ops + t - p1 - 1] + w[n_ops + 2 * T_MAX + t - 1]
    if ops.ops[op].arity == 2:
      r += w[n_ops + T_MAX + t - p2 - 1]
    total += gamma ** t * r
  return total


def test_f_is_eq4_for_one_block_and_a_batch():
  msf = _msf()
  w = np.asarray(msf.w, np.float64)
  resnet = experts.get("resnet", t_max=T_MAX)
  assert msf(resnet).shape == ()
  np.testing.assert_allclose(float(msf(resnet)), _plain_f(w, [("dwconv3x3", 0, 0),
                             ("dwconv3x3", 1, 0), ("add", 2, 0)], 0.9), rtol=1e-5)
  blocks = sample_uniform(jax.random.key(1), 32, T_MAX)
  batch = np.asarray(msf(blocks))
  assert batch.shape == (32,)
  for i in range(32):
    np.testing.assert_allclose(batch[i], _plain_f(w, to_layers(blocks[i]), 0.9),
                               rtol=1e-4, atol=1e-5)


def test_msf_is_a_pytree_that_jits_once():
  msf = _msf()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def score(msf, block):
    return msf(block)

  for name in ("resnet", "resnet_modify1", "densenet"):
    score(msf, experts.get(name, t_max=T_MAX))
  score(_msf(seed=3), experts.get("resnet", t_max=T_MAX))  # new w, same program
  leaves = jax.tree_util.tree_leaves(msf)
  assert len(leaves) == 1 and leaves[0].shape == msf.w.shape


def test_blocks_of_another_space_are_refused():
  msf = _msf()
  with pytest.raises(ValueError, match="fitted for op set 'block' and t_max 6"):
    msf(experts.get("resnet", t_max=24))


def test_save_load_round_trip(tmp_path):
  msf = _msf("positional")
  path = str(tmp_path / "msf.json")
  msf.save(path)
  data = json.loads(open(path).read())
  assert data["encoding"] == "positional" and data["t_max"] == T_MAX
  assert len(data["feature_names"]) == len(data["w"])
  loaded = MirrorStimuli.load(path, encoding="positional", t_max=T_MAX)
  np.testing.assert_array_equal(np.asarray(loaded.w), np.asarray(msf.w))
  assert (loaded.gamma, loaded.encoding, loaded.t_max, loaded.opset) == (
      msf.gamma, msf.encoding, msf.t_max, msf.opset)
  block = experts.get("densenet", t_max=T_MAX)
  assert float(loaded(block)) == float(msf(block))


def test_load_refuses_a_mismatched_config(tmp_path):
  path = str(tmp_path / "msf.json")
  _msf("onehot").save(path)
  with pytest.raises(ValueError, match="fitted with encoding='onehot'.*'relative_depth'"):
    MirrorStimuli.load(path, encoding="relative_depth")
  with pytest.raises(ValueError, match="fitted with t_max=6.*t_max=24"):
    MirrorStimuli.load(path, t_max=24)
  with pytest.raises(ValueError, match="no mirror stimuli file"):
    MirrorStimuli.load(str(tmp_path / "missing.json"))
  data = json.loads(open(path).read())
  data["w"] = data["w"][:-1]
  (tmp_path / "short.json").write_text(json.dumps(data))
  with pytest.raises(ValueError, match="w has 20 entries, expected 21"):
    MirrorStimuli.load(str(tmp_path / "short.json"))
  (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
  with pytest.raises(ValueError, match="is not a mirror stimuli file"):
    MirrorStimuli.load(str(tmp_path / "other.json"))
