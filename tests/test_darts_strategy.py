"""Tests of the DARTS strategy: the sampling distribution, REINFORCE (Eq. 12),
topology-only ascent, genotype derivation and the second-order update."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from irlas_jax import irl
from irlas_jax.spaces import darts as darts_space
from irlas_jax.strategies import darts

TINY = ("none", "max_pool_3x3", "sep_conv_3x3")  # 3 ops, "none" first


# -- a plain-numpy reference of the documented distribution -----------------------

def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _reference_cells(alpha, steps):
  """Every cell (ops, inputs) with its probability, from the module docstring."""
  q = _softmax(np.asarray(alpha, np.float64))
  s = 1.0 - q[:, 0]
  offsets = darts_space.edge_offsets(steps)
  per_node = []
  for i in range(steps):
    options = []
    rows = [offsets[i] + j for j in range(i + 2)]
    total = s[rows].sum()
    for a, b in itertools.combinations(range(i + 2), 2):
      sa, sb = s[offsets[i] + a], s[offsets[i] + b]
      pair = sa / total * sb / (total - sa) + sb / total * sa / (total - sb)
      for oa in range(1, q.shape[1]):
        for ob in range(1, q.shape[1]):
          p = pair * q[offsets[i] + a, oa] / sa * q[offsets[i] + b, ob] / sb
          options.append(((oa, ob), (a, b), p))
    per_node.append(options)
  cells = []
  for combo in itertools.product(*per_node):
    ops = np.array([c[0] for c in combo])
    inputs = np.array([c[1] for c in combo])
    cells.append((ops, inputs, float(np.prod([c[2] for c in combo]))))
  return cells


def _tiny_f(ops, inputs):
  """A nonlinear F of a cell, invariant to the order of a node's two edges."""
  table = jnp.asarray(np.random.default_rng(7).normal(size=(4, 6, 8)), jnp.float32)
  node = jnp.arange(ops.shape[-2])[:, None]
  per_edge = table[node, inputs, ops]
  return jnp.sin(jnp.sum(per_edge, (-1, -2))) + 0.3 * jnp.sum(per_edge ** 2, (-1, -2))


def _random_alpha(key, steps, num_ops, scale=1.0):
  return scale * jax.random.normal(key, (darts_space.num_edges(steps), num_ops))


def test_log_prob_and_sampler_match_the_documented_distribution():
  alpha = _random_alpha(jax.random.key(0), 2, 3)
  cells = _reference_cells(alpha, 2)
  assert abs(sum(p for *_, p in cells) - 1.0) < 1e-9
  for ops, inputs, p in cells:
    assert float(darts.cell_log_prob(alpha, jnp.asarray(ops), jnp.asarray(inputs))) \
        == pytest.approx(np.log(p), abs=1e-5)
  # Sampling frequencies (inputs sorted: the set is what is sampled).
  n = 20000
  ops, inputs = darts.sample_cells(jax.random.key(1), alpha, n)
  ops, inputs = np.asarray(ops), np.asarray(inputs)
  order = np.argsort(inputs, axis=-1)
  ops = np.take_along_axis(ops, order, -1)
  inputs = np.take_along_axis(inputs, order, -1)
  keys = {(tuple(o.ravel()), tuple(i.ravel())): p for o, i, p in cells}
  counts = {}
  for o, i in zip(ops, inputs):
    k = (tuple(o.ravel()), tuple(i.ravel()))
    assert k in keys, f"sampled an impossible cell {k}"
    counts[k] = counts.get(k, 0) + 1
  chi2 = sum((counts.get(k, 0) - n * p) ** 2 / (n * p) for k, p in keys.items())
  dof = len(keys) - 1
  assert chi2 < dof + 5 * np.sqrt(2 * dof)


@pytest.mark.parametrize("baseline", [False, True])
def test_reinforce_estimate_is_unbiased(baseline):
  steps, k = 2, 5
  alphas = {"normal": _random_alpha(jax.random.key(2), steps, 3, 0.7),
            "reduce": _random_alpha(jax.random.key(3), steps, 3, 0.7)}

  # F does not depend on alpha: score every cell once.
  cells = _reference_cells(alphas["normal"], steps)
  f_of = {(o.tobytes(), i.tobytes()): float(_tiny_f(jnp.asarray(o), jnp.asarray(i)))
          for o, i, _ in cells}

  def exact_expected_f(alphas64):
    # E[F] = 0.5 (E f(normal) + E f(reduce)): cells are independent.
    return sum(0.5 * p * f_of[(o.tobytes(), i.tobytes())]
               for cell in ("normal", "reduce")
               for o, i, p in _reference_cells(alphas64[cell], steps))

  base = {c: np.asarray(a, np.float64) for c, a in alphas.items()}
  exact = {}
  h = 1e-4
  for cell in ("normal", "reduce"):
    grad = np.zeros_like(base[cell])
    for idx in np.ndindex(*grad.shape):
      up = {c: a.copy() for c, a in base.items()}
      down = {c: a.copy() for c, a in base.items()}
      up[cell][idx] += h
      down[cell][idx] -= h
      grad[idx] = (exact_expected_f(up) - exact_expected_f(down)) / (2 * h)
    exact[cell] = grad

  @jax.jit
  def estimates(keys):
    g = jax.vmap(lambda key: jax.grad(lambda a: darts.topology_loss(
        a, key, _tiny_f, k, baseline)[0])(alphas))(keys)
    return jax.tree.map(lambda x: -x, g)  # the surrogate's gradient is minus the estimate

  n = 6000
  est = estimates(jax.random.split(jax.random.key(4), n))
  for cell in ("normal", "reduce"):
    samples = np.asarray(est[cell], np.float64)
    mean, se = samples.mean(0), samples.std(0) / np.sqrt(n)
    assert np.all(np.abs(mean - exact[cell]) <= 4.5 * se + 1e-4), (cell, mean, exact[cell], se)
  # The exact gradient is not trivially zero.
  assert max(np.abs(g).max() for g in exact.values()) > 0.02


@pytest.fixture(scope="module")
def msf():
  config = irl.default_config()
  config.space, config.t_max, config.experts = "darts", 15, ("darts_resnet",)
  config.encoding = "positional"  # as experiments/configs/darts_cifar10.py
  config.num_random = 2000
  return irl.fit(["darts_resnet"], config, log=None)[0]


def test_expert_is_the_best_cell_under_the_positional_msf(msf):
  # F is a sum over layers and a node's two edge layers depend only on that
  # node's choices, so the best cell is the best choice node by node:
  # enumerate every (ordered input pair, op pair) of each node, the other
  # nodes held at the expert's.
  cell_f = jax.jit(jax.vmap(darts.make_cell_f(msf)))
  expert_ops, expert_inputs = darts.genotype_arrays(darts_space.RESNET_GENOTYPE)["normal"]
  expert_ops, expert_inputs = np.asarray(expert_ops), np.asarray(expert_inputs)
  expert_f = float(cell_f(expert_ops[None], expert_inputs[None])[0])
  for i in range(4):
    ops, inputs = [], []
    for a, b in itertools.permutations(range(i + 2), 2):
      for oa, ob in itertools.product(range(1, 8), repeat=2):
        o, n = expert_ops.copy(), expert_inputs.copy()
        o[i], n[i] = (oa, ob), (a, b)
        ops.append(o)
        inputs.append(n)
    f = np.asarray(cell_f(jnp.asarray(np.stack(ops)), jnp.asarray(np.stack(inputs))))
    assert f.max() <= expert_f + 1e-5, (i, f.max(), expert_f)


def _distance_to_expert(genotype):
  """Edges (op, input) of the genotype not in the expert's node (both cells)."""
  d = 0
  for cell in (genotype.normal, genotype.reduce):
    for i in range(4):
      expert = set(darts_space.RESNET_CELL[2 * i: 2 * i + 2])
      d += len(set(cell[2 * i: 2 * i + 2]) - expert)
  return d


@pytest.mark.parametrize("baseline", [False, True])
def test_topology_only_steps_raise_expected_f_and_approach_the_expert(msf, baseline):
  cell_f = darts.make_cell_f(msf)
  config = darts.default_config()
  config.arch_learning_rate = 0.05  # DARTS' Adam, a larger step for a short test
  _, alpha_tx, _ = darts.make_optimizers(config, 1)
  alphas = {"normal": 1e-3 * jax.random.normal(jax.random.key(5), (14, 8)),
            "reduce": 1e-3 * jax.random.normal(jax.random.key(6), (14, 8))}
  opt_state = alpha_tx.init(alphas)

  @jax.jit
  def step(alphas, opt_state, key):
    g, _ = jax.grad(darts.topology_loss, has_aux=True)(alphas, key, cell_f, 5, baseline)
    updates, opt_state = alpha_tx.update(g, opt_state, alphas)
    return optax.apply_updates(alphas, updates), opt_state

  measure = jax.jit(lambda a: darts.expected_f(a, jax.random.key(99), cell_f, 4096))
  f_history = [float(measure(alphas))]
  distances = [_distance_to_expert(darts.derive_genotype(alphas))]
  for chunk in range(4):
    for i in range(25):
      alphas, opt_state = step(alphas, opt_state, jax.random.key(1000 * chunk + i))
    f_history.append(float(measure(alphas)))
    distances.append(_distance_to_expert(darts.derive_genotype(alphas)))
  assert all(b > a for a, b in zip(f_history, f_history[1:])), f_history
  if baseline:  # without one, 100 steps of K = 5 are too noisy to move the argmax far
    assert distances[-1] <= distances[0] - 3, distances
  expert_f = float(darts.genotype_f(cell_f, darts.genotype_arrays(darts_space.RESNET_GENOTYPE)))
  assert f_history[-1] < expert_f  # E[F] climbs toward the expert's F


def test_derive_genotype_by_hand():
  primitives = TINY
  alpha = np.zeros((5, 3))
  # node 0 (edges 0, 1): edge 1 strongest with sep_conv; edge 0 with max_pool.
  alpha[0] = [0.0, 1.0, 0.0]
  alpha[1] = [0.0, 0.0, 2.0]
  # node 1 (edges 2, 3, 4): "none" dominates edge 2 but does not count;
  # edges 3 and 4 win with max_pool.
  alpha[2] = [9.0, 0.5, 0.0]
  alpha[3] = [0.0, 3.0, 0.0]
  alpha[4] = [0.0, 2.5, 1.0]
  g = darts.derive_genotype({"normal": alpha, "reduce": alpha}, primitives)
  assert g.normal == (("sep_conv_3x3", 1), ("max_pool_3x3", 0),
                      ("max_pool_3x3", 1), ("max_pool_3x3", 2))
  assert g.normal_concat == (2, 3)


def test_second_order_gradient_matches_finite_differences_of_the_unrolled_loss():
  rng = np.random.default_rng(0)
  m = rng.normal(size=(4, 3))
  c = rng.normal(size=(2, 4))
  y = rng.normal(size=2)
  d = np.diag([0.5, 1.0, 1.5])
  w0 = rng.normal(size=4)
  a0 = rng.normal(size=3)
  xi, wd = 0.3, 0.01

  # Hand-written losses and the training gradient in numpy (float64).
  def val_loss_np(w, a):
    return 0.5 * np.sum((c @ w - y) ** 2) + 0.2 * np.sum(np.sin(a)) + 0.1 * (w[:3] @ a) ** 2

  def unrolled_val_np(a):
    grad_w_train = w0 - m @ a  # of 0.5 |w - M a|^2 + 0.5 a^T D a
    return val_loss_np(w0 - xi * (grad_w_train + wd * w0), a)

  h = 1e-5
  reference = np.array([(unrolled_val_np(a0 + h * e) - unrolled_val_np(a0 - h * e)) / (2 * h)
                        for e in np.eye(3)])

  def train_loss(p, a):
    return 0.5 * jnp.sum((p["w"] - jnp.asarray(m, jnp.float32) @ a["a"]) ** 2) \
        + 0.5 * a["a"] @ jnp.asarray(d, jnp.float32) @ a["a"]

  def val_loss(p, a):
    w = p["w"]
    return 0.5 * jnp.sum((jnp.asarray(c, jnp.float32) @ w - y) ** 2) \
        + 0.2 * jnp.sum(jnp.sin(a["a"])) + 0.1 * (w[:3] @ a["a"]) ** 2

  def grad_fn(p, a, batch):
    loss = train_loss if batch == "train" else val_loss
    value, (gp, ga) = jax.value_and_grad(loss, argnums=(0, 1))(p, a)
    return value, gp, ga

  params = {"w": jnp.asarray(w0, jnp.float32)}
  alphas = {"a": jnp.asarray(a0, jnp.float32)}
  g, value = darts.unrolled_alpha_grad(grad_fn, params, alphas, "train", "val", xi, wd)
  np.testing.assert_allclose(np.asarray(g["a"]), reference, rtol=2e-3, atol=2e-3)
  assert float(value) == pytest.approx(unrolled_val_np(a0), rel=1e-4)
  # The first-order gradient differs: the test can tell the two apart.
  first = jax.grad(val_loss, argnums=1)(params, alphas)["a"]
  assert np.max(np.abs(np.asarray(first) - reference)) > 0.05


def test_config_errors_name_the_field():
  config = darts.default_config()
  config.primitives = ("sep_conv_3x3", "none")
  with pytest.raises(ValueError, match="config.primitives must start with 'none'"):
    darts.check_config(config)
  config = darts.default_config()
  config.order = 3
  with pytest.raises(ValueError, match="config.order"):
    darts.check_config(config)
