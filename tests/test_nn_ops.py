"""Tests of irlas_jax.nn.ops against independent references (lax convs, numpy loops)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax.nn import ops
from irlas_jax.spaces.opset import BLOCK_OPS, OpSpec

MOMENTUM, EPSILON = 0.9, 1e-5
KEY = jax.random.key(0, impl="rbg")  # quicker to compile on CPU than threefry


def _image(key, shape=(2, 5, 6, 4)):
  return jax.random.normal(jax.random.key(key), shape, jnp.float32)


def _perturb_bn(variables, key):
  """Random BN scale/bias/mean/var so that eval-mode BN is not the identity."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(variables)
  keys = jax.random.split(jax.random.key(key), len(leaves))
  out = []
  for (path, leaf), k in zip(leaves, keys):
    name = path[-1].key
    if name == "scale":
      leaf = jax.random.uniform(k, leaf.shape, minval=0.5, maxval=1.5)
    elif name in ("bias", "mean"):
      leaf = 0.3 * jax.random.normal(k, leaf.shape)
    elif name == "var":
      leaf = jax.random.uniform(k, leaf.shape, minval=0.5, maxval=2.0)
    out.append(leaf)
  return jax.tree_util.tree_unflatten(treedef, out)


def _bn_reference(y, bn_params, bn_stats, train):
  """BatchNorm by hand; returns (output, updated running stats)."""
  if train:
    mean = y.mean(axis=(0, 1, 2))
    var = y.var(axis=(0, 1, 2))
    stats = {"mean": MOMENTUM * bn_stats["mean"] + (1 - MOMENTUM) * mean,
             "var": MOMENTUM * bn_stats["var"] + (1 - MOMENTUM) * var}
  else:
    mean, var, stats = bn_stats["mean"], bn_stats["var"], bn_stats
  out = (y - mean) / jnp.sqrt(var + EPSILON) * bn_params["scale"] + bn_params["bias"]
  return out, stats


def _conv1x1(x, kernel_2d):
  return jax.lax.conv_general_dilated(
      x, kernel_2d[None, None], (1, 1), "VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=jax.lax.Precision.HIGHEST)


@pytest.mark.parametrize("kernel, train, impl", [
    (1, False, "shifts"), (3, False, "shifts"), (5, False, "shifts"),
    (1, True, "conv"), (3, True, "conv"), (5, True, "shifts")])
def test_separable_conv_matches_lax_reference(kernel, train, impl):
  x = _image(kernel)
  module = ops.SeparableConv(kernel, bn_momentum=MOMENTUM, bn_epsilon=EPSILON,
                             depthwise_impl=impl)
  variables = _perturb_bn(module.init(KEY, x), kernel + 10)
  got, updates = module.apply(variables, x, train, mutable=["batch_stats"])

  p, s = variables["params"], variables["batch_stats"]
  c = x.shape[-1]
  depthwise = p["depthwise"]["kernel"]
  assert depthwise.shape == (kernel, kernel, 1, c)
  y = jax.lax.conv_general_dilated(
      jnp.maximum(x, 0.0), depthwise, (1, 1), "SAME",
      dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c,
      precision=jax.lax.Precision.HIGHEST)
  y = _conv1x1(y, p["pointwise"]["kernel"])
  want, want_stats = _bn_reference(y, p["bn"], s["bn"], train)
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(updates["batch_stats"]["bn"]["mean"], want_stats["mean"],
                             atol=1e-5)
  np.testing.assert_allclose(updates["batch_stats"]["bn"]["var"], want_stats["var"],
                             atol=1e-4, rtol=1e-4)
  assert set(p) == {"depthwise", "pointwise", "bn"}  # no biases


@pytest.mark.parametrize("k, strides, dilation", [(3, 1, 1), (5, 1, 1), (3, 2, 1),
                                                  (5, 2, 1), (3, 1, 2)])
@pytest.mark.parametrize("impl", ["shifts", "conv"])
def test_depthwise_conv_matches_grouped_lax_conv(k, strides, dilation, impl):
  x = _image(k, (2, 7, 6, 3))  # odd sizes: SAME padding is asymmetric at stride 2
  kernel = jax.random.normal(jax.random.key(k + strides), (k, k, 1, 3))
  want = jax.lax.conv_general_dilated(
      x, kernel, (strides, strides), "SAME", rhs_dilation=(dilation, dilation),
      dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=3,
      precision=jax.lax.Precision.HIGHEST)
  got = ops.depthwise_conv(x, kernel, strides, dilation, impl)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_depthwise_impl_is_checked():
  assert ops.resolve_depthwise_impl("auto") == "shifts"  # the tests run on CPU
  with pytest.raises(ValueError, match="depthwise_impl must be one of"):
    ops.depthwise_conv(_image(0), jnp.ones((3, 3, 1, 4)), impl="fft")


def test_separable_conv_downsamples_to_new_width():
  x = _image(0, (2, 8, 8, 4))
  module = ops.SeparableConv(3, features=8, strides=2)
  y, _ = module.init_with_output(KEY, x)
  assert y.shape == (2, 4, 4, 8)


def _pool_reference(x, k, reduce):
  """Stride-1 SAME pooling over the valid pixels of each window, by loops."""
  x = np.asarray(x)
  n, h, w, c = x.shape
  r = k // 2
  out = np.zeros_like(x)
  for i in range(h):
    for j in range(w):
      window = x[:, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1, :]
      out[:, i, j, :] = reduce(window, axis=(1, 2))
  return out


@pytest.mark.parametrize("k", [3, 5])
def test_pools_match_numpy_loops(k):
  x = _image(k, (2, 5, 6, 3))
  np.testing.assert_allclose(ops.max_pool(x, k), _pool_reference(x, k, np.max),
                             atol=1e-6)
  np.testing.assert_allclose(ops.avg_pool(x, k), _pool_reference(x, k, np.mean),
                             atol=1e-6)
  # Counting only valid pixels keeps a constant image constant at the border.
  np.testing.assert_allclose(ops.avg_pool(jnp.ones_like(x), k), 1.0, atol=1e-6)


@pytest.mark.parametrize("train", [False, True])
def test_concat_projection_is_conv1x1_of_concat(train):
  a, b = _image(1), _image(2)
  module = ops.ConcatProjection(MOMENTUM, EPSILON)
  variables = _perturb_bn(module.init(KEY, a, b), 3)
  got, updates = module.apply(variables, a, b, train, mutable=["batch_stats"])
  p = variables["params"]
  kernel = jnp.concatenate([p["proj_a"]["kernel"], p["proj_b"]["kernel"]],
                           axis=0)  # [2C, C]
  y = _conv1x1(jnp.concatenate([a, b], axis=-1), kernel)
  want, want_stats = _bn_reference(y, p["bn"], variables["batch_stats"]["bn"], train)
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(updates["batch_stats"]["bn"]["mean"], want_stats["mean"],
                             atol=1e-5)


@pytest.mark.parametrize("rows", [2, 3])
def test_sink_projection_is_conv1x1_of_concat(rows):
  nodes = [_image(10 + i) for i in range(rows)]
  module = ops.SinkProjection(rows, MOMENTUM, EPSILON)
  variables = _perturb_bn(module.init(KEY, nodes), 4)
  got = module.apply(variables, nodes)
  p = variables["params"]
  c = nodes[0].shape[-1]
  assert p["kernel"].shape == (rows, c, c)
  y = _conv1x1(jnp.concatenate(nodes, axis=-1), p["kernel"].reshape(rows * c, c))
  want, _ = _bn_reference(y, p["bn"], variables["batch_stats"]["bn"], False)
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
  with pytest.raises(ValueError, match="expects 3 sink nodes"):
    ops.SinkProjection(3).init(KEY, nodes[:2])


def test_apply_op_parameter_free_ops():
  a, b = _image(1), _image(2)
  spec = {s.name: s for s in BLOCK_OPS.ops}
  for name in ("maxpool3x3", "maxpool5x5", "avgpool3x3", "avgpool5x5", "identity", "add"):
    assert ops.make_op_module(spec[name]) is None
    assert not ops.is_parameterised(spec[name])
  np.testing.assert_array_equal(ops.apply_op(spec["identity"], None, a, b), a)
  np.testing.assert_array_equal(ops.apply_op(spec["add"], None, a, b), a + b)
  np.testing.assert_array_equal(ops.apply_op(spec["maxpool5x5"], None, a, b),
                                ops.max_pool(a, 5))
  for name in ("dwconv1x1", "dwconv3x3", "dwconv5x5", "concat"):
    assert ops.is_parameterised(spec[name])


def test_unsupported_op_kind_is_a_value_error():
  with pytest.raises(ValueError, match="kind 'sepconv'.*does not implement"):
    ops.make_op_module(OpSpec("sepconv7x7", "sepconv", kernel=7))
