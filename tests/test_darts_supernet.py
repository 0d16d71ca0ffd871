"""Tests of the DARTS networks: mixed ops against a NumPy reference, the
supernet's interface, the evaluation network, drop-path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax.nn import DartsEvalNetwork
from irlas_jax.nn import DartsSearchNetwork
from irlas_jax.nn import darts as darts_nn
from irlas_jax.nn import darts_eval
from irlas_jax.spaces import darts as darts_space

# -- plain NumPy reference ops (float64, explicit loops over taps) ----------------


def _pad(x, k, dilation, value):
  span = (k - 1) * dilation + 1
  lo = (span - 1) // 2
  return np.pad(x, ((0, 0), (lo, span - 1 - lo), (lo, span - 1 - lo), (0, 0)),
                constant_values=value)


def _depthwise(x, kernel, stride=1, dilation=1):
  """x [N, H, W, C], kernel [k, k, C]; SAME padding."""
  k = kernel.shape[0]
  p = _pad(x, k, dilation, 0.0)
  n, h, w, c = x.shape
  out = np.zeros((n, h, w, c))
  for i in range(k):
    for j in range(k):
      out += p[:, i * dilation: i * dilation + h, j * dilation: j * dilation + w] * kernel[i, j]
  return out[:, ::stride, ::stride]


def _bn(x):
  mean = x.mean(axis=(0, 1, 2))
  var = ((x - mean) ** 2).mean(axis=(0, 1, 2))
  return (x - mean) / np.sqrt(var + 1e-5)


def _pool(x, kind, stride=1):
  n, h, w, c = x.shape
  if kind == "max":
    p = _pad(x, 3, 1, -np.inf)
    out = np.full((n, h, w, c), -np.inf)
    for i in range(3):
      for j in range(3):
        out = np.maximum(out, p[:, i: i + h, j: j + w])
  else:
    p, ones = _pad(x, 3, 1, 0.0), _pad(np.ones_like(x), 3, 1, 0.0)
    total, count = np.zeros_like(x), np.zeros_like(x)
    for i in range(3):
      for j in range(3):
        total += p[:, i: i + h, j: j + w]
        count += ones[:, i: i + h, j: j + w]
    out = total / count
  return out[:, ::stride, ::stride]


def _relu(x):
  return np.maximum(x, 0.0)


def _reference_op(name, x, params, e, c):
  """Edge e's op on x [N, H, W, C] with the MixedOp's parameters."""
  def dw(p):
    return np.asarray(p["depthwise"]["kernel"], np.float64)[:, :, 0, e * c:(e + 1) * c]

  def pw(p):
    return np.asarray(p["pointwise"]["kernel"], np.float64)[e]

  if name == "max_pool_3x3":
    return _bn(_pool(x, "max"))
  if name == "avg_pool_3x3":
    return _bn(_pool(x, "avg"))
  if name == "skip_connect":
    return x
  if name.startswith("sep_conv"):
    p = params[name]["op"]
    y = _bn(_depthwise(_relu(x), dw(p["unit_1"])) @ pw(p["unit_1"]))
    return _bn(_depthwise(_relu(y), dw(p["unit_2"])) @ pw(p["unit_2"]))
  if name.startswith("dil_conv"):
    p = params[name]["op"]
    return _bn(_depthwise(_relu(x), dw(p), dilation=2) @ pw(p))
  raise AssertionError(name)


def test_mixed_op_is_the_softmax_weighted_sum_of_its_ops():
  c, edges = 3, 2  # two edges: also checks the edge axis of the parameters
  x = jax.random.normal(jax.random.key(0), (4, 6, 6, edges, c))
  alpha = jax.random.normal(jax.random.key(1), (edges, len(darts_space.PRIMITIVES)))
  weights = jax.nn.softmax(alpha, axis=-1)
  op = darts_nn.MixedOp(c, depthwise_impl="conv")
  params = jax.jit(op.init)(jax.random.key(2), x, weights)["params"]
  out = np.asarray(jax.jit(op.apply)({"params": params}, x, weights), np.float64)
  x64, w64 = np.asarray(x, np.float64), np.asarray(weights, np.float64)
  expected = np.zeros_like(out)
  for e in range(edges):
    for k, name in enumerate(darts_space.PRIMITIVES):
      if name != "none":  # the zero op adds w * 0
        expected += w64[e, k] * _reference_op(name, x64[..., e, :], params, e, c)
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
  # The "shifts" depthwise implementation computes the same mixed op.
  shifts = jax.jit(darts_nn.MixedOp(c, depthwise_impl="shifts").apply)(
      {"params": params}, x, weights)
  np.testing.assert_allclose(np.asarray(shifts), out, rtol=1e-4, atol=1e-4)


def test_stride_two_skip_is_a_factorized_reduce():
  x = jax.random.normal(jax.random.key(3), (2, 6, 6, 1, 4))
  op = darts_nn.EdgeOp("skip_connect", 4, strides=2, affine=False)
  params = op.init(jax.random.key(4), x)["params"]
  out = np.asarray(op.apply({"params": params}, x))
  r = _relu(np.asarray(x, np.float64)[..., 0, :])
  a = r[:, ::2, ::2] @ np.asarray(params["reduce"]["conv_1"]["kernel"][0], np.float64)
  b = r[:, 1::2, 1::2] @ np.asarray(params["reduce"]["conv_2"]["kernel"][0], np.float64)
  np.testing.assert_allclose(out[..., 0, :], _bn(np.concatenate([a, b], -1)),
                             rtol=1e-4, atol=1e-4)


SMALL = dict(num_classes=10, channels=4, layers=1, steps=2, multiplier=2,
             primitives=("none", "max_pool_3x3", "skip_connect"))


def test_search_network_keeps_alpha_outside_its_parameters():
  net = DartsSearchNetwork(**SMALL)
  alphas = darts_nn.init_alphas(jax.random.key(0), steps=2, num_primitives=3)
  assert alphas["normal"].shape == (5, 3)
  x = jax.random.normal(jax.random.key(1), (8, 8, 8, 1))
  params = jax.jit(net.init)(jax.random.key(2), x, alphas)["params"]
  assert not any("alpha" in str(path) for path, _ in
                 jax.tree_util.tree_flatten_with_path(params)[0])
  @jax.jit
  def forward_and_alpha_grad(a):
    apply = lambda b: net.apply({"params": params}, x, b)
    return apply(a), jax.grad(lambda b: jnp.sum(apply(b) ** 2))(a)

  logits, g = forward_and_alpha_grad(alphas)
  assert logits.shape == (8, 10)
  assert np.all(np.isfinite(g["reduce"])) and np.abs(g["reduce"]).max() > 0
  # layers=1 has only a reduction cell: the normal alpha is unused.
  assert np.abs(g["normal"]).max() == 0
  with pytest.raises(ValueError, match=r"alphas\['reduce'\] must have shape \(5, 3\)"):
    net.apply({"params": params}, x, {"normal": alphas["normal"], "reduce": jnp.zeros((5, 4))})


def test_reduction_cells_follow_darts():
  assert darts_nn.reduction_cells(8) == (2, 5)
  assert darts_nn.reduction_cells(20) == (6, 13)


def test_drop_path_by_hand():
  x = jnp.ones((4000, 2, 2, 3))
  y = np.asarray(darts_eval.drop_path(jax.random.key(0), x, 0.25))
  per_example = y.reshape(4000, -1)
  assert np.all((per_example == 0).all(1) | np.isclose(per_example, 1 / 0.75).all(1))
  assert abs((per_example[:, 0] == 0).mean() - 0.25) < 0.03


def test_eval_network_outputs_logits_and_auxiliary_logits():
  genotype = darts_space.Genotype.parse(  # one node per cell: cheap to compile
      "Genotype(normal=[('avg_pool_3x3', 0), ('skip_connect', 1)], normal_concat=[2], "
      "reduce=[('max_pool_3x3', 0), ('dil_conv_3x3', 1)], reduce_concat=[2])")
  net = DartsEvalNetwork(genotype, num_classes=10, channels=4, layers=3,
                         auxiliary=True, drop_path_prob=0.2, depthwise_impl="conv")
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = jax.jit(net.init)(jax.random.key(1), x)
  assert "auxiliary_head" in variables["params"]
  train = jax.jit(lambda v, x, key: net.apply(v, x, train=True, mutable=["batch_stats"],
                                              rngs={"dropout": key}))
  (logits, aux), updates = train(variables, x, jax.random.key(2))
  assert logits.shape == aux.shape == (2, 10)
  assert "batch_stats" in updates
  logits, aux = jax.eval_shape(lambda v, x: net.apply(v, x, train=False), variables, x)
  assert logits.shape == (2, 10) and aux is None
  with pytest.raises(ValueError, match="needs a dropout key"):
    net.apply(variables, x, train=True, mutable=["batch_stats"])


def _num_params(module, *args):
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args))["params"]
  return {k: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(v)) for k, v in shapes.items()}


def test_parameter_counts_match_the_darts_reference_implementation():
  # DARTS' logs: "param size = 3.349342MB" for DARTS_V2 at C = 36, 20 cells
  # (count_parameters_in_MB leaves out the auxiliary head) and 1.930618MB for
  # the search supernet at C = 16, 8 cells, on CIFAR-10.
  x = jnp.zeros((2, 32, 32, 3))
  counts = _num_params(DartsEvalNetwork(darts_space.DARTS_V2), x)
  assert sum(counts.values()) - counts["auxiliary_head"] == 3_349_342
  counts = _num_params(DartsSearchNetwork(), x, darts_nn.init_alphas(jax.random.key(0)))
  assert sum(counts.values()) == 1_930_618
