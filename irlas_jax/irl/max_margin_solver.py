"""Max-margin inverse RL: the reward weights w of Alg. 1 (Eq. 8).

Problem
-------
Given the expert's discounted feature count ``mu_star`` (Eq. 2) and the
feature counts ``mu_j`` of the policies found so far, Alg. 1 of IRLAS
(following Abbeel & Ng 2004) solves Eq. 8::

    max_{w, delta} delta  s.t.  w . mu_star >= w . mu_j + delta  for all j,
                                ||w||_2 <= 1.

With ``d_j = mu_star - mu_j`` (the rows of a matrix ``D``) this is the
maximisation of the concave, piecewise-linear margin

    f(w) = min_j w . d_j          over the unit ball,

and the optimum ``delta*`` is the largest margin by which some unit reward
separates the expert from every policy so far. Rows are padded to a fixed
maximum number of rounds ``R`` with a boolean mask, so one compiled program
serves every round of a fit; padded rows never enter the computation (they
are zeroed with ``jnp.where``, so even inf/NaN garbage there is harmless).

Duality and the certificate
---------------------------
Write ``f(w) = min_{lam in simplex} w . D^T lam``. For every ``w`` in the ball
and every ``lam`` in the simplex (over the valid rows)

    f(w) <= w . D^T lam <= ||D^T lam||            (Cauchy-Schwarz),

so *any* feasible ``lam`` gives an upper bound ``U = ||D^T lam||`` on
``delta*`` (weak duality), and by the minimax theorem (bilinear function,
both sets convex and compact) the best bound is tight:

    delta* = min_{lam in simplex} ||D^T lam||,

the distance from the origin to the convex hull of the ``d_j``. When ``0`` is
in the hull (the expert's feature count is a mixture of the policies'
counts) ``delta* = 0``, attained at ``w = 0``. Otherwise, at the min-norm
point ``v* = D^T lam*`` the optimality condition of the projection,
``d_j . v* >= ||v*||^2`` for all j, gives ``f(v*/||v*||) = ||v*|| = delta*``:
the normalised dual point is primal optimal.

The returned ``gap = U - delta`` is therefore a *certificate*: ``delta`` is
the exact margin ``f(w)`` of the returned ``w`` (a lower bound on
``delta*``), ``U`` is the norm of an explicit simplex point (an upper bound),
so ``delta <= delta* <= delta + gap`` holds whatever the solvers' iteration
counts, up to float32 rounding in evaluating ``f(w)`` and ``U``.

Algorithm
---------
1. Dual: FISTA (accelerated projected gradient) on
   ``g(lam) = 0.5 ||D^T lam||^2`` over the simplex of the valid rows, step
   ``1/L`` with ``L`` the largest eigenvalue of ``D D^T``, with
   O'Donoghue-Candes gradient restarts. The projection is
   ``optax.projections.projection_simplex`` applied to the full ``[R]`` vector
   in which every padded coordinate is replaced by ``min(valid) - 2``: such a
   coordinate is provably outside the support of the sort-based projection
   (its threshold test fails by a margin >= 1) and is projected to exactly
   0, so the result equals the exact projection onto the simplex of the valid
   subset; the output is re-masked as a belt-and-braces guard. The iterate
   with the smallest ``||D^T lam||`` gives ``U`` and the candidate
   ``w_dual = v / ||v||`` (``0`` if ``v = 0``).
2. Polish: ``g`` is flat at its minimum, so in float32 FISTA pins down the
   *value* ``||v||`` to ~eps but the *point* ``v`` (hence the direction of
   ``w_dual``) only to ~sqrt(eps) (measured: margins off by up to ~2e-4 of
   the scale). The simplex projection does identify the support ``S`` of
   ``lam`` exactly, and the min-norm point of the affine hull of
   ``{d_j, j in S}`` is a small least-squares problem (thin SVD), accurate to
   ~eps * cond. It gives the candidate ``w_polish = v_S / ||v_S||``, and, when
   its affine weights are all >= 0 (the point lies in the hull), a second,
   usually tighter, upper bound ``||v_S||``.
3. Primal: projected subgradient ascent with optax: ``optax.sgd`` with the
   schedule ``learning_rate / sqrt(1 + k)`` applied to the negated, normalised
   subgradient ``-d_{j*} / ||d_{j*}||`` (``j*`` the masked argmin of
   ``w . d_j``), followed by ``optax.projections.projection_l2_ball``, inside
   ``jax.lax.scan``, started at ``w = 0`` and keeping the best iterate.
   Normalising the subgradient makes the step length measured in units of
   the ball's radius, independent of the scale of the feature counts.
4. Return the candidate (``w_dual``, ``w_polish``, best subgradient iterate)
   with the highest exact margin ``f``, with ``delta = f(w)`` and
   ``gap = max(U - delta, 0)``.

Why several candidates: when ``delta* > 0`` the dual candidates are accurate
(``w_polish`` to float32 precision), whereas subgradient ascent only
converges like ``O(1/sqrt(steps))``. When ``delta* = 0`` (the expert is inside
the hull) the dual residual ``v`` is tiny but has an arbitrary direction, so
``f(w_dual)`` can be far below 0; the subgradient run contains its starting
point ``w = 0``, which is exactly optimal there, so in that case ``w = 0`` and
``delta = 0`` are returned (a "no separating reward exists" answer: Alg. 1
stops on ``delta <= eps``). The primal run also guards against a poorly
converged dual. Picking by the exact margin can only help: ``delta`` is the
best lower bound available and the certificate does not depend on which
candidate won.

Accuracy (float32, the codebase default): against an exact float64 solution
(scipy NNLS) on 300 random instances (k in 3..82, R in 1..50, scales
0.1..10, the expert inside, near and far outside the hull),
``|delta - delta*|`` stayed below 3e-6 of ``max(1, max_j ||d_j||)`` (at most
6e-5 in absolute terms, for rows of norm ~100); the residual is float32
rounding of the inputs and of ``d_j = mu_star - mu_j``. ``gap`` reports each
call's remaining uncertainty and was of the same order (inside the hull
``delta = 0`` exactly and ``gap`` ~1e-7 of the scale). Without the polish step
the error was up to ~2e-4 of the scale. One call with the defaults at
R = 50, k = 82 takes ~16 ms on a 2-core CPU after compilation.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax


def default_config() -> ml_collections.ConfigDict:
  """Solver settings for :func:`max_margin`."""
  config = ml_collections.ConfigDict()
  config.steps = 2000  # projected subgradient steps (primal).
  config.learning_rate = 0.5  # initial step; decays like lr / sqrt(1 + k).
  config.dual_steps = 2000  # FISTA steps on the min-norm-point dual.
  return config


class MaxMarginResult(NamedTuple):
  """Solution of Eq. 8.

  w: float32[k], ``||w|| <= 1``, the reward weights.
  delta: float32[], the exact margin ``min_{valid j} w . (mu_star - mu_j)``.
  gap: float32[] >= 0, certified: ``delta <= delta* <= delta + gap``.
  """
  w: jax.Array
  delta: jax.Array
  gap: jax.Array


def _margin(w: jax.Array, d: jax.Array, mask: jax.Array) -> jax.Array:
  """f(w) = min over valid j of w . d_j (the objective of Eq. 8)."""
  return jnp.min(jnp.where(mask, d @ w, jnp.inf))


def _project_masked_simplex(x: jax.Array, mask: jax.Array) -> jax.Array:
  """Exact Euclidean projection of x[mask] onto the unit simplex; 0 elsewhere.

  ``projection_simplex`` sorts descending and keeps the prefix whose
  threshold test ``1/i + u_i - cumsum(u)_i / i > 0`` holds. With ``m`` valid
  values summing to ``S`` and padding value ``c``, the test at a padded
  position reads ``(1 - S + m c) / i > 0``; ``c = min(valid) - 2`` gives
  ``m c <= S - 2m`` so the test fails by at least ``1/i``, the padding lies
  outside the support, and the threshold is that of the valid subset alone.
  """
  sentinel = jnp.min(jnp.where(mask, x, jnp.inf)) - 2.0
  p = optax.projections.projection_simplex(jnp.where(mask, x, sentinel))
  return jnp.where(mask, p, 0.0)


def _dual(d: jax.Array, mask: jax.Array, steps: int):
  """FISTA for min_{lam in simplex} 0.5 ||D^T lam||^2 (the dual of Eq. 8).

  Returns ``(lam, U)``: the best simplex point found and ``U = ||D^T lam||``,
  an upper bound on the optimum of Eq. 8.
  """
  valid = mask.astype(d.dtype)
  lam0 = valid / jnp.maximum(jnp.sum(valid), 1.0)
  lipschitz = jnp.linalg.eigvalsh(d @ d.T)[-1]
  # A hair above L guards against float32 underestimation of the eigenvalue.
  step = 1.0 / jnp.maximum(lipschitz * (1.0 + 1e-4), 1e-30)
  norm0 = jnp.linalg.norm(d.T @ lam0)

  def body(carry, _):
    lam, y, t, best_lam, best_norm = carry
    grad = d @ (d.T @ y)
    lam_new = _project_masked_simplex(y - step * grad, mask)
    # Gradient-based adaptive restart (O'Donoghue & Candes 2015).
    restart = jnp.dot(y - lam_new, lam_new - lam) > 0.0
    t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
    momentum = jnp.where(restart, 0.0, (t - 1.0) / t_new)
    t_new = jnp.where(restart, 1.0, t_new)
    y_new = lam_new + momentum * (lam_new - lam)
    norm = jnp.linalg.norm(d.T @ lam_new)
    better = norm < best_norm
    best_lam = jnp.where(better, lam_new, best_lam)
    best_norm = jnp.where(better, norm, best_norm)
    return (lam_new, y_new, t_new, best_lam, best_norm), None

  init = (lam0, lam0, jnp.ones((), d.dtype), lam0, norm0)
  (_, _, _, best_lam, best_norm), _ = jax.lax.scan(
      body, init, None, length=steps)
  return best_lam, best_norm


def _polish(d: jax.Array, lam: jax.Array, mask: jax.Array):
  """Exact min-norm point of the affine hull of the dual support.

  ``0.5 ||D^T lam||^2`` is flat near its minimum: in float32 its value is
  resolved to ~eps, so the point ``v`` (and the direction ``v/||v||``) only
  to ~sqrt(eps). Once FISTA has found the support ``S`` of ``lam`` (the
  simplex projection produces exact zeros), the min-norm point of the
  affine hull of ``{d_j, j in S}`` is a least-squares problem,
  ``v = d_a - B c`` with ``B = [d_j - d_a]_{j in S}`` and
  ``c = argmin ||B c - d_a||``, solved by SVD to ~eps * cond. Its affine
  weights ``lam_a = 1 + sum c``, ``lam_j = -c_j`` are returned: when they
  are >= 0 the point is in the hull and also a valid dual bound.
  """
  support = mask & (lam > 0.0)
  anchor = jnp.argmax(jnp.where(mask, lam, -jnp.inf))
  support = support.at[anchor].set(True)
  others = support & (jnp.arange(lam.shape[0]) != anchor)
  b = jnp.where(others[:, None], d - d[anchor], 0.0).T  # [k, R]
  # Least squares by a thin SVD with the usual rank cutoff; zero (non-support)
  # columns get zero singular values and drop out. (Hand-rolled because
  # jnp.linalg.lstsq is ~100x slower than its SVD on CPU.)
  u, s, vt = jnp.linalg.svd(b, full_matrices=False)
  cutoff = jnp.finfo(d.dtype).eps * max(b.shape) * s[0]
  keep = s > cutoff
  s_inv = jnp.where(keep, 1.0 / jnp.where(keep, s, 1.0), 0.0)
  c = vt.T @ (s_inv * (u.T @ d[anchor]))
  c = jnp.where(others, c, 0.0)
  weights = (-c).at[anchor].add(1.0 + jnp.sum(c))
  return weights


def _primal(d: jax.Array, mask: jax.Array, learning_rate: jax.Array,
            steps: int):
  """Projected subgradient ascent on f over the unit ball (Eq. 8).

  Starts at ``w = 0``; returns ``(best_w, f(best_w))`` over all iterates.
  """
  schedule = lambda count: learning_rate / jnp.sqrt(1.0 + count)
  optimizer = optax.sgd(schedule)
  w0 = jnp.zeros(d.shape[1], d.dtype)

  def body(carry, _):
    w, opt_state, best_w, best_f = carry
    scores = jnp.where(mask, d @ w, jnp.inf)
    j = jnp.argmin(scores)
    f = scores[j]
    better = f > best_f
    best_w = jnp.where(better, w, best_w)
    best_f = jnp.where(better, f, best_f)
    # Ascent: optax minimises, so feed it the negated subgradient d_{j*}.
    g = d[j] / jnp.maximum(jnp.linalg.norm(d[j]), 1e-30)
    updates, opt_state = optimizer.update(-g, opt_state, w)
    w = optax.projections.projection_l2_ball(optax.apply_updates(w, updates))
    return (w, opt_state, best_w, best_f), None

  init = (w0, optimizer.init(w0), w0, -jnp.inf * jnp.ones((), d.dtype))
  (w, _, best_w, best_f), _ = jax.lax.scan(body, init, None, length=steps)
  f = _margin(w, d, mask)
  better = f > best_f
  return jnp.where(better, w, best_w), jnp.where(better, f, best_f)


def _unit(v: jax.Array) -> jax.Array:
  """v / ||v||, or 0 for v = 0."""
  norm = jnp.linalg.norm(v)
  return jnp.where(norm > 0.0, v / jnp.where(norm > 0.0, norm, 1.0), 0.0)


@functools.partial(jax.jit, static_argnames=("steps", "dual_steps"))
def _solve(mu_star: jax.Array, mus: jax.Array, mask: jax.Array,
           learning_rate: jax.Array, steps: int,
           dual_steps: int) -> MaxMarginResult:
  """Jitted core of :func:`max_margin` (shapes already validated)."""
  d = jnp.where(mask[:, None], mu_star[None, :] - mus, 0.0)
  lam, upper = _dual(d, mask, dual_steps)
  weights = _polish(d, lam, mask)
  v_polish = d.T @ weights
  norm_polish = jnp.linalg.norm(v_polish)
  in_hull = jnp.all(weights >= 0.0)
  upper = jnp.where(in_hull, jnp.minimum(upper, norm_polish), upper)
  w_dual = _unit(d.T @ lam)
  w_polish = _unit(v_polish)
  w_sub, _ = _primal(d, mask, learning_rate, steps)
  candidates = jnp.stack([w_dual, w_polish, w_sub])
  scores = jax.vmap(_margin, in_axes=(0, None, None))(candidates, d, mask)
  w = candidates[jnp.argmax(scores)]
  delta = _margin(w, d, mask)
  gap = jnp.maximum(upper - delta, 0.0)
  # All rows masked out (only reachable with a traced mask): undefined.
  nan = jnp.full((), jnp.nan, delta.dtype)
  any_valid = jnp.any(mask)
  return MaxMarginResult(w=w, delta=jnp.where(any_valid, delta, nan),
                         gap=jnp.where(any_valid, gap, nan))


def max_margin(mu_star, mus, config: ml_collections.ConfigDict | None = None,
               mask=None) -> MaxMarginResult:
  """Solves the max-margin IRL problem of Eq. 8 (Alg. 1 of IRLAS).

  Args:
    mu_star: float[k], the expert's discounted feature count (Eq. 2).
    mus: float[R, k], feature counts of the policies found so far, padded to
      a fixed number of rounds R.
    config: :func:`default_config` fields ``steps``, ``learning_rate``,
      ``dual_steps``; ``None`` means the defaults.
    mask: bool[R], which rows of ``mus`` are real; ``None`` means all. At
      least one row must be valid. Different masks of the same shape reuse
      one compiled program.

  Returns:
    ``MaxMarginResult(w, delta, gap)``: ``w`` (float32[k], ``||w|| <= 1``),
    its exact margin ``delta = min_{valid j} w . (mu_star - mu_j)``, and a
    certified ``gap >= 0`` with ``delta <= delta* <= delta + gap``. If
    ``mu_star`` is in the convex hull of the valid ``mu_j`` the optimum is 0
    and typically ``w = 0``, ``delta = 0``.

  Raises:
    ValueError: on bad shapes, bad config values, or a (concrete) mask with
      no valid row.
  """
  if config is None:
    config = default_config()
  steps = int(config.steps)
  dual_steps = int(config.dual_steps)
  learning_rate = float(config.learning_rate)
  if steps < 1 or dual_steps < 1:
    raise ValueError(
        f"config.steps and config.dual_steps must be >= 1, got {steps} and "
        f"{dual_steps}")
  if not learning_rate > 0.0:
    raise ValueError(f"config.learning_rate must be > 0, got {learning_rate}")

  mu_star = jnp.asarray(mu_star, jnp.float32)
  mus = jnp.asarray(mus, jnp.float32)
  if mu_star.ndim != 1:
    raise ValueError(f"mu_star must be 1-D [k], got shape {mu_star.shape}")
  k = mu_star.shape[0]
  if mus.ndim != 2 or mus.shape[1] != k:
    raise ValueError(
        f"mus must be 2-D [R, k] with k = {k} (the length of mu_star), got "
        f"shape {mus.shape}")
  num_rows = mus.shape[0]
  if num_rows == 0:
    raise ValueError("mus has no rows; at least one policy is needed")
  if mask is None:
    mask = jnp.ones((num_rows,), bool)
  else:
    mask = jnp.asarray(mask)
    if mask.shape != (num_rows,):
      raise ValueError(
          f"mask must have shape [R] = ({num_rows},) like mus' rows, got "
          f"{mask.shape}")
    mask = mask.astype(bool)
    if not isinstance(mask, jax.core.Tracer) and not bool(np.any(mask)):
      raise ValueError("mask has no valid row; at least one is needed")
  return _solve(mu_star, mus, mask, jnp.float32(learning_rate), steps=steps,
                dual_steps=dual_steps)
