"""Tests of the state features phi and the feature count mu (Sec. 3.2, Eq. 2)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax import features
from irlas_jax.spaces import block as block_lib
from irlas_jax.spaces import experts
from irlas_jax.spaces.opset import OpSet, OpSpec

T_MAX = 6
GAMMA = 0.9


def _hand_mu(dim, rows):
  """sum_t gamma^t e(t), with e(t) the vector with ones at rows[t - 1]."""
  mu = np.zeros(dim)
  for t, (indices, values) in enumerate(rows, start=1):
    for i, v in zip(indices, values):
      mu[i] += GAMMA ** t * v
  return mu


# The ResNet expert, t_max 6: dwconv3x3(0), dwconv3x3(1), add(2, 0).
# Offsets below are written out by hand from the encoding definitions:
#   block op ids: dwconv3x3 = 1, add = 8; kinds: dwconv 0 .. add 4;
#   kernel sizes (1, 3, 5); 7 nodes so 6 pred values and 6 distances.
HAND = {
    # kind (1-based), kernel, pred1, pred2
    "paper": _hand_mu(4, [([0, 1, 2, 3], [1, 3, 0, 0]),
                          ([0, 1, 2, 3], [1, 3, 1, 0]),
                          ([0, 1, 2, 3], [5, 0, 2, 0])]),
    # [kind 6 | kernel 3 | pred1 6 | pred2 6]
    "onehot": _hand_mu(21, [([0, 7, 9], [1, 1, 1]),
                            ([0, 7, 10], [1, 1, 1]),
                            ([4, 11, 15], [1, 1, 1])]),
    # [op 10 | t - pred1 6 | t - pred2 6]
    "onehot_relative": _hand_mu(22, [([1, 10], [1, 1]),
                                     ([1, 10], [1, 1]),
                                     ([8, 10, 18], [1, 1, 1])]),
    # [(t, op) 60 | t - pred1 6 | t - pred2 6]
    "positional": _hand_mu(72, [([1, 60], [1, 1]),
                                ([11, 60], [1, 1]),
                                ([28, 60, 68], [1, 1, 1])]),
    # [op 10 | t - pred1 6 | t - pred2 6 | t 6]
    "relative_depth": _hand_mu(28, [([1, 10, 22], [1, 1, 1]),
                                    ([1, 10, 23], [1, 1, 1]),
                                    ([8, 10, 18, 24], [1, 1, 1, 1])]),
}


def test_every_encoding_has_a_hand_computed_case():
  assert set(HAND) == set(features.encodings())


@pytest.mark.parametrize("encoding", sorted(HAND))
def test_resnet_feature_count_by_hand(encoding):
  resnet = experts.get("resnet", t_max=T_MAX)
  assert features.feature_dim(encoding, resnet.opset, T_MAX) == HAND[encoding].shape[0]
  mu = features.feature_count(resnet, GAMMA, encoding)
  np.testing.assert_allclose(np.asarray(mu), HAND[encoding], rtol=1e-6)


@pytest.mark.parametrize("encoding", sorted(HAND))
def test_phi_is_zero_on_padding_and_mu_is_the_discounted_sum(encoding):
  blocks = block_lib.sample_uniform(jax.random.key(0), 16, T_MAX)
  phis = np.asarray(features.phi(blocks, encoding))
  mus = np.asarray(features.feature_count(blocks, GAMMA, encoding))
  for i in range(16):
    n = int(blocks.length[i])
    assert not phis[i, n:].any()
    assert phis[i, :n].any(axis=1).all()
    expected = sum(GAMMA ** t * phis[i, t - 1].astype(np.float64) for t in range(1, n + 1))
    np.testing.assert_allclose(mus[i], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("encoding", sorted(HAND))
def test_vmap_equals_loop(encoding):
  blocks = block_lib.sample_uniform(jax.random.key(1), 12, T_MAX)
  batched = jax.vmap(lambda b: features.feature_count(b, GAMMA, encoding))(blocks)
  auto = features.feature_count(blocks, GAMMA, encoding)  # leading axis handled
  looped = np.stack([features.feature_count(blocks[i], GAMMA, encoding)
                     for i in range(12)])
  np.testing.assert_array_equal(np.asarray(batched), looped)
  np.testing.assert_array_equal(np.asarray(auto), looped)
  # Two batch axes.
  grid = jax.tree_util.tree_map(lambda x: x.reshape((3, 4) + x.shape[1:]), blocks)
  np.testing.assert_array_equal(
      np.asarray(features.feature_count(grid, GAMMA, encoding)).reshape(12, -1), looped)


class JitTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_jit_equals_no_jit(self):
    blocks = block_lib.sample_uniform(jax.random.key(2), 8, T_MAX)
    for encoding in features.encodings():
      f = self.variant(lambda b, g, e=encoding: features.feature_count(b, g, e))
      with jax.disable_jit():
        reference = np.asarray(features.feature_count(blocks, GAMMA, encoding))
      np.testing.assert_allclose(np.asarray(f(blocks, GAMMA)), reference, rtol=1e-6)


def test_feature_count_does_not_recompile_across_blocks():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def mu(block):
    return features.feature_count(block, GAMMA, "relative_depth")
  for name in ("resnet", "resnet_modify1", "densenet", "resnext"):
    mu(experts.get(name, t_max=8))


def test_unknown_encoding_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown feature encoding 'bogus'.*relative_depth"):
    features.feature_count(experts.get("resnet"), GAMMA, "bogus")


def test_non_block_input_is_a_clear_error():
  with pytest.raises(ValueError, match="expected a Block"):
    features.phi(jnp.zeros((24,), jnp.int32), "onehot")


def test_relative_features_are_shift_invariant_but_depth_is_not():
  # Inserting a layer in front shifts absolute indices but not distances.
  resnet = experts.get("resnet", t_max=T_MAX)
  shifted = block_lib.from_layers(
      [("maxpool3x3", 0, 0), ("dwconv3x3", 1, 0), ("dwconv3x3", 2, 0), ("add", 3, 1)],
      t_max=T_MAX)
  rel_a = np.asarray(features.phi(resnet, "onehot_relative"))[:3]
  rel_b = np.asarray(features.phi(shifted, "onehot_relative"))[1:4]
  np.testing.assert_array_equal(rel_a, rel_b)
  depth_a = np.asarray(features.phi(resnet, "relative_depth"))[:3]
  depth_b = np.asarray(features.phi(shifted, "relative_depth"))[1:4]
  assert not np.array_equal(depth_a, depth_b)


def test_two_input_slots():
  # A DARTS-like space: nodes 0 and 1 are inputs, layer t is node t + 1.
  opset = OpSet("two_inputs", (OpSpec("conv", "conv", 3),
                               OpSpec("sum", "add", arity=2)), num_inputs=2)
  block = block_lib.from_layers([("conv", 1, 0), ("sum", 2, 0)], t_max=3, opset=opset)
  # onehot_relative: [op 2 | distance 4 | distance 4], distances 1..node(3)=4.
  phi = np.asarray(features.phi(block, "onehot_relative"))
  np.testing.assert_array_equal(phi[0], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0])  # node 2 - 1 = 1
  np.testing.assert_array_equal(phi[1], [0, 1, 1, 0, 0, 0, 0, 0, 1, 0])  # node 3: 1 and 3
  np.testing.assert_array_equal(phi[2], np.zeros(10))
