"""Tests of the DP planner (the RL step of Alg. 1) against brute force."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax import features
from irlas_jax.irl import planner
from irlas_jax.spaces import experts
from irlas_jax.spaces.block import from_layers, validate
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import OpSet, OpSpec

TINY = OpSet("tiny_planner", (OpSpec("conv", "conv", 3), OpSpec("pool", "pool", 3),
                              OpSpec("add", "add", arity=2)))
GAMMA = 0.9


def _all_blocks(opset, t_max):
  """Every block of the space, enumerated from the definition of a layer."""
  def layers_at(t):
    node = opset.node(t)
    for spec in opset.ops:
      if spec.arity == 1:
        for p in range(node):
          yield (spec.name, p, 0)
      else:
        for p1 in range(node):
          for p2 in range(p1):
            yield (spec.name, p1, p2)
  for length in range(1, t_max + 1):
    for layers in itertools.product(*[list(layers_at(t)) for t in range(1, length + 1)]):
      yield from_layers(list(layers), t_max=t_max, opset=opset)


@pytest.fixture(scope="module")
def tiny_mus():
  blocks = list(_all_blocks(TINY, 3))
  assert len(blocks) == 2 + 2 * 5 + 2 * 5 * 9  # 2, 5 and 9 layers valid at t = 1, 2, 3
  return {e: np.stack([np.asarray(features.feature_count(b, GAMMA, e)) for b in blocks])
          for e in features.encodings()}, blocks


@pytest.mark.parametrize("encoding", features.encodings())
def test_dp_value_equals_brute_force(tiny_mus, encoding):
  mus, blocks = tiny_mus
  for seed in range(6):
    w = jax.random.normal(jax.random.key(seed), (mus[encoding].shape[1],))
    result = planner.plan(w, GAMMA, opset=TINY, t_max=3, encoding=encoding)
    values = mus[encoding] @ np.asarray(w, np.float64)
    np.testing.assert_allclose(float(result.value), values.max(), rtol=1e-5, atol=1e-5)
    validate(result.block)
    # The returned block attains the optimum, and is the shortest that does.
    f_block = float(features.feature_count(result.block, GAMMA, encoding) @ w)
    np.testing.assert_allclose(f_block, values.max(), rtol=1e-5, atol=1e-5)
    best_lengths = [int(b.length) for b, v in zip(blocks, values) if v >= values.max() - 1e-5]
    assert int(result.block.length) == min(best_lengths)


def test_q_table_masks_invalid_layers():
  codes = layer_codes(TINY, 3)
  result = planner.plan(jnp.ones(features.feature_dim("onehot", TINY, 3)), GAMMA,
                        opset=TINY, t_max=3, encoding="onehot")
  q = np.asarray(result.q)
  for t in range(1, 4):
    assert np.isfinite(q[t - 1, :codes.count[t]]).all()
    assert np.isneginf(q[t - 1, codes.count[t]:]).all()


def test_plan_at_full_size_gives_a_valid_block():
  k = features.feature_dim("relative_depth", experts.get("resnet").opset, 24)
  for seed in range(3):
    w = jax.random.normal(jax.random.key(seed), (k,))
    validate(planner.plan(w, GAMMA, opset=experts.get("resnet").opset, t_max=24,
                          encoding="relative_depth").block)


def test_all_negative_reward_gives_the_best_single_layer():
  # Stopping is always allowed after one layer, never before.
  w = -jnp.ones(features.feature_dim("onehot_relative", TINY, 3))
  block = planner.plan(w, GAMMA, opset=TINY, t_max=3, encoding="onehot_relative").block
  assert int(block.length) == 1


def test_wrong_w_shape_is_a_clear_error():
  with pytest.raises(ValueError, match=r"w has shape \(5,\), expected"):
    planner.plan(jnp.ones(5), GAMMA, opset=TINY, t_max=3, encoding="onehot")
