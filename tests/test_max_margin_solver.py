"""Tests of max-margin IRL (Eq. 8, Alg. 1): irlas_jax/irl/max_margin_solver.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize as scipy_optimize

from irlas_jax.irl import max_margin_solver as mm_lib
from irlas_jax.irl.max_margin_solver import default_config
from irlas_jax.irl.max_margin_solver import max_margin
from irlas_jax.irl.max_margin_solver import MaxMarginResult


R_PAD = 16  # random instances are padded to this many rows: one program per k.


def _reference(mu_star, mus):
  """Exact float64 optimum of Eq. 8, independently of the code under test.

  Least-distance programming (Lawson & Hanson, ch. 23): min ||z|| s.t.
  D z >= 1 is solved by NNLS on E = [D^T; 1^T], f = e_{k+1}. The NNLS
  solution u, normalised to the simplex, is the dual point lam of Eq. 8 and
  v = D^T lam the min-norm point of the hull of the d_j. The reference is
  accepted only if it certifies itself: either ||v|| ~ 0 (then the optimum
  is in [0, ||v||]) or the primal value of w = v/||v|| equals the dual value
  ||v|| (then both are optimal by weak duality).
  """
  d = np.asarray(mu_star, np.float64)[None, :] - np.asarray(mus, np.float64)
  m, k = d.shape
  e = np.vstack([d.T, np.ones((1, m))])
  f = np.zeros(k + 1)
  f[-1] = 1.0
  u, _ = scipy_optimize.nnls(e, f, maxiter=100 * (m + k))
  assert u.sum() > 0
  lam = u / u.sum()
  v = d.T @ lam
  upper = np.linalg.norm(v)
  scale = max(1.0, np.linalg.norm(d, axis=1).max())
  if upper <= 1e-6 * scale:
    # 0 is in the hull up to rounding (an "inside" instance whose float32
    # inputs moved mu_star by ~1e-7): the optimum is in [0, upper].
    return upper
  lower = (d @ (v / upper)).min()
  assert abs(upper - lower) <= 1e-9 * scale, "reference did not converge"
  return upper


def _instance(rng, kind):
  k = int(rng.choice([3, 8, 17, 30]))
  r = int(rng.integers(1, R_PAD))
  scale = 10.0 ** rng.uniform(-1.0, 1.0)
  mus = rng.normal(size=(r, k)) * scale
  if kind == "inside":  # a mixture of the policies: optimum 0.
    mu_star = rng.dirichlet(np.ones(r)) @ mus
  elif kind == "far":
    mu_star = mus.mean(0) + rng.normal(size=k) * 5.0 * scale
  else:  # "near": mostly close to or barely outside the hull.
    mu_star = mus.mean(0) + rng.normal(size=k) * 0.3 * scale
  return mu_star.astype(np.float32), mus.astype(np.float32)


def _pad(mus, rows, fill=1e6):
  padded = np.full((rows, mus.shape[1]), fill, np.float32)
  padded[:len(mus)] = mus
  return padded, np.arange(rows) < len(mus)


def test_matches_exact_reference():
  rng = np.random.default_rng(0)
  errors = []
  kinds = ["inside", "far", "near"] * 8
  for i, kind in enumerate(kinds):
    mu_star, mus = _instance(rng, kind)
    optimum = _reference(mu_star, mus)
    if kind == "inside":
      assert optimum <= 1e-6 * max(1.0, np.abs(mus).max())
    elif kind == "far":
      assert optimum > 0.0
    padded, mask = _pad(mus, R_PAD)
    w, delta, gap = max_margin(mu_star, padded, mask=mask)
    w, delta, gap = np.asarray(w), float(delta), float(gap)
    scale = max(1.0, np.linalg.norm(mu_star[None] - mus, axis=1).max())
    errors.append(abs(delta - optimum) / scale)
    assert abs(delta - optimum) <= 1e-3 * scale, (i, kind, delta, optimum)
    assert gap >= -1e-5
    assert optimum <= delta + gap + 1e-4 * scale, (i, kind, delta, gap)
    assert np.linalg.norm(w) <= 1.0 + 1e-5
    # delta is the exact margin of the returned w.
    np.testing.assert_allclose(
        delta, ((mu_star[None] - mus) @ w).min(), atol=1e-5 * scale)
  # Observed on this seed: ~1e-5; the bound above is the contract.
  assert max(errors) < 1e-4, max(errors)


def test_hand_computed():
  w, delta, gap = max_margin([0.0, 0.0], [[-1.0, 0.0]])
  np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-5)
  np.testing.assert_allclose(delta, 1.0, atol=1e-5)
  assert 0.0 <= gap <= 1e-5
  w, delta, gap = max_margin([0.0, 0.0], [[-1.0, 0.0], [0.0, -1.0]])
  np.testing.assert_allclose(w, [2 ** -0.5, 2 ** -0.5], atol=1e-5)
  np.testing.assert_allclose(delta, 2 ** -0.5, atol=1e-5)
  assert 0.0 <= gap <= 1e-5


def test_inside_hull_returns_zero_margin():
  # mu_star is the midpoint of two policies: no reward separates it.
  result = max_margin([0.0, 0.0], [[1.0, 1.0], [-1.0, -1.0]])
  assert isinstance(result, MaxMarginResult)
  assert float(result.delta) == 0.0
  assert 0.0 <= float(result.gap) <= 1e-4


@pytest.mark.parametrize("fill", [1e6, np.inf, np.nan])
def test_padding_rows_are_ignored(fill):
  rng = np.random.default_rng(1)
  mus = rng.normal(size=(5, 6)).astype(np.float32)
  mu_star = (mus.mean(0) + rng.normal(size=6)).astype(np.float32)
  plain = max_margin(mu_star, mus)
  padded, mask = _pad(mus, 9, fill)
  # Interleave the padding too, not only at the end.
  order = np.array([0, 5, 1, 6, 2, 3, 7, 4, 8])
  masked = max_margin(mu_star, padded[order], mask=mask[order])
  assert np.isfinite(float(masked.delta))
  np.testing.assert_allclose(masked.delta, plain.delta, atol=1e-5)
  np.testing.assert_allclose(masked.w, plain.w, atol=1e-4)
  np.testing.assert_allclose(masked.gap, plain.gap, atol=1e-5)


def test_masks_share_one_program():
  rng = np.random.default_rng(2)
  mus = rng.normal(size=(7, 5)).astype(np.float32)
  mu_star = rng.normal(size=5).astype(np.float32)
  before = mm_lib._solve._cache_size()
  deltas = []
  for valid in [1, 3, 7]:
    config = default_config()
    config.learning_rate = 0.1 * valid  # a traced number: no recompile.
    result = max_margin(mu_star, mus, config, mask=np.arange(7) < valid)
    deltas.append(float(result.delta))
  assert mm_lib._solve._cache_size() <= before + 1  # 3 masks, <= 1 compile.
  # More policies can only shrink the margin.
  assert deltas[0] >= deltas[1] - 1e-5 >= deltas[2] - 2e-5


def test_traced_mask_under_jit():
  mus = jnp.array([[-1.0, 0.0], [0.0, -1.0], [5.0, 5.0]])
  fit = jax.jit(lambda mask: max_margin(jnp.zeros(2), mus, mask=mask))
  result = fit(jnp.array([True, True, False]))
  np.testing.assert_allclose(result.delta, 2 ** -0.5, atol=1e-5)
  assert np.isnan(float(fit(jnp.zeros(3, bool)).delta))


def test_bad_inputs():
  mus = np.zeros((3, 4), np.float32)
  with pytest.raises(ValueError, match="mu_star must be 1-D"):
    max_margin(np.zeros((1, 4)), mus)
  with pytest.raises(ValueError, match="mus must be 2-D"):
    max_margin(np.zeros(4), np.zeros(4))
  with pytest.raises(ValueError, match="mus must be 2-D"):
    max_margin(np.zeros(5), mus)
  with pytest.raises(ValueError, match="no rows"):
    max_margin(np.zeros(4), np.zeros((0, 4)))
  with pytest.raises(ValueError, match="mask must have shape"):
    max_margin(np.zeros(4), mus, mask=np.ones(4, bool))
  with pytest.raises(ValueError, match="mask must have shape"):
    max_margin(np.zeros(4), mus, mask=np.ones((3, 1), bool))
  with pytest.raises(ValueError, match="no valid row"):
    max_margin(np.zeros(4), mus, mask=np.zeros(3, bool))
  config = default_config()
  config.steps = 0
  with pytest.raises(ValueError, match="steps"):
    max_margin(np.zeros(4), mus, config)
