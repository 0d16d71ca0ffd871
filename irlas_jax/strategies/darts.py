"""DARTS with the topology loss: IRLAS-differential (Sec. 3.5, Eq. 12).

DARTS (Liu et al., ICLR 2019) relaxes the cell to a supernet whose edges mix
every op with weights softmax(alpha) (:mod:`irlas_jax.nn.darts`) and solves

    min_alpha L_val(w*(alpha), alpha)  s.t.  w*(alpha) = argmin_w L_train(w, alpha)

by alternating one alpha step on a validation batch and one weight step on
a training batch (50/50 split of the training set). Every DARTS default is a
field of :func:`default_config`.

* weights: SGD, momentum 0.9, weight decay 3e-4 (added to the gradient, as
  PyTorch's SGD), gradient norm clipped at 5, learning rate 0.025 decayed by
  a cosine to 0.001 (decayed per step here; DARTS steps it per epoch);
* alpha: Adam, lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 (L2 added to
  the gradient, as PyTorch's Adam), alpha initialised as 1e-3 N(0, 1);
* first order (``order = 1``): grad_alpha L_val(w, alpha);
* second order (``order = 2``, DARTS Eq. 6-8): with w' = w - xi (grad_w
  L_train(w, alpha) + wd w), xi the current weight learning rate,

      grad_alpha L_val(w', alpha)
        - xi (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / (2 eps),

  w+- = w +- eps grad_w' L_val(w', alpha), eps = 0.01 / ||grad_w' L_val||
  (the finite-difference Hessian-vector product of DARTS). DARTS' code also
  puts the SGD momentum buffer into w'; that term is left out here (the
  paper's Eq. 6 has none);
* genotype (:func:`derive_genotype`): for each node the two incoming edges
  with the largest non-``none`` weight max_k softmax(alpha_e)_k (ties: lower
  input), and on each the non-``none`` op with the largest weight; every
  intermediate node is concatenated.

The topology loss (Eq. 12). softmax(alpha) is read as a distribution over
genotypes; this module fixes how (the paper does not):

* the normal and the reduction cell are sampled independently;
* in a cell, each node chooses its two inputs *without replacement* among
  its incoming edges, with probability proportional to the edge's strength
  ``s_e = 1 - softmax(alpha_e)[none]`` (the probability that the edge is not
  ``none``), by Gumbel top-2; then each chosen edge's op is drawn from the
  non-``none`` ops with probabilities ``softmax(alpha_e)_k / s_e``. So a
  sample is always a valid DARTS genotype (two distinct inputs per node, no
  ``none``), and the derived genotype is its most likely choice per edge;
* ``log p(m) = sum_nodes log P({a, b}) + sum_edges log(softmax(alpha_e)_op / s_e)``
  with ``P({a, b}) = s_a s_b / S (1 / (S - s_a) + 1 / (S - s_b))``, S the sum
  of the node's strengths (both orders of drawing the unordered pair);
* ``F(m)`` is the mean of the MSF on the two cells' layer sequences
  (:func:`irlas_jax.spaces.darts.cells_to_blocks`), vmapped over the K
  samples inside the jitted alpha step;
* the REINFORCE estimate of grad_alpha E_p[F] is ``(1/K) sum_k F(m_k) grad
  log p(m_k)``. Eq. 12 as printed, ``L_topology = sum_k p_k F(m_k)`` with
  that gradient, would *lower* F when minimised. We implement the intent,
  raising the expected F: the loss minimised is the surrogate
  ``L_topology = -(1/K) sum_k stop_gradient(F(m_k) - b_k) log p(m_k)``, whose
  gradient is minus the estimate; it is scaled by 0.5 and added to the
  (weighted, ``ce_weight``) cross-entropy gradient of the alpha step (Sec. 4.1);
* baseline (``topology.baseline``, off by default as in the paper): b_k is
  the mean of F over the *other* K - 1 samples (leave-one-out), which lowers
  the variance and keeps the estimate unbiased (the mean over all K samples
  including F(m_k) would shrink it by (K - 1) / K).

Everything is a pure function of pytrees; :func:`make_train_step` returns
the search step (alpha step then weight step, as DARTS' ``architect.step``
before the weight update), a Python function over a few jitted programs so
that the supernet's forward/backward is compiled once (:func:`make_grad_fn`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import functools
from typing import Any

import chex
from flax import struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.nn import darts as darts_nn
from irlas_jax.spaces import darts as darts_space

Alphas = dict  # {"normal": [E, P], "reduce": [E, P]}
CELLS = ("normal", "reduce")


def default_config() -> ml_collections.ConfigDict:
  """DARTS' search settings (Liu et al. 2019, Sec. 3.1 / A.1) and the topology loss."""
  c = ml_collections.ConfigDict()
  # Supernet (DARTS: 8 cells, C = 16, 4 nodes, 3C stem).
  c.channels = 16
  c.layers = 8
  c.steps = darts_space.STEPS
  c.multiplier = darts_space.MULTIPLIER
  c.stem_multiplier = 3
  c.primitives = darts_space.PRIMITIVES  # "none" first
  # irlas_jax.nn.ops.depthwise_conv; XLA's grouped conv measured 4x faster
  # than "shifts" on this CPU for the supernet's edge groups, and it compiles
  # 3x faster (benchmarks/darts_step.py).
  c.depthwise_impl = "conv"
  # Bilevel optimisation (DARTS).
  c.epochs = 50
  c.batch_size = 64
  c.train_portion = 0.5  # half the training set trains w, half alpha
  c.learning_rate = 0.025
  c.learning_rate_min = 0.001
  c.momentum = 0.9
  c.weight_decay = 3e-4
  c.grad_clip = 5.0
  c.arch_learning_rate = 3e-4
  c.arch_weight_decay = 1e-3
  c.arch_beta1 = 0.5
  c.arch_beta2 = 0.999
  c.alpha_init_scale = 1e-3
  c.order = 2  # 1: first order; 2: unrolled (DARTS' second order)
  c.unrolled_r = 0.01  # eps = r / ||grad_w' L_val|| of the Hessian-vector product
  c.ce_weight = 1.0  # weight of the cross-entropy gradient in the alpha step
  # The topology loss (Sec. 3.5, 4.1).
  c.topology = ml_collections.ConfigDict()
  c.topology.weight = 0.5  # Sec. 4.1: "scaled by 0.5"; 0 is plain DARTS
  c.topology.num_samples = 5  # Sec. 4.1: K = 5
  c.topology.baseline = False  # leave-one-out mean baseline (not in the paper)
  c.topology.expected_f_samples = 256  # Monte-Carlo samples for the logged E[F]
  return c


def check_config(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first bad field."""
  if tuple(c.primitives)[:1] != ("none",):
    raise ValueError(f"config.primitives must start with 'none', got {tuple(c.primitives)}")
  for p in c.primitives:
    if p not in darts_space.PRIMITIVES:
      raise ValueError(f"config.primitives: unknown op {p!r}; DARTS ops: "
                       f"{', '.join(darts_space.PRIMITIVES)}")
  if len(c.primitives) < 2:
    raise ValueError("config.primitives needs at least one op besides 'none'")
  if c.order not in (1, 2):
    raise ValueError(f"config.order must be 1 or 2, got {c.order!r}")
  if c.multiplier != c.steps:
    raise ValueError(f"config.multiplier={c.multiplier} must equal config.steps="
                     f"{c.steps}: the layer-sequence conversion concatenates every node")
  for field in ("channels", "layers", "steps", "epochs", "batch_size"):
    if not isinstance(c[field], int) or c[field] < 1:
      raise ValueError(f"config.{field} must be a positive int, got {c[field]!r}")
  if c.topology.num_samples < 1 or (c.topology.baseline and c.topology.num_samples < 2):
    raise ValueError(f"config.topology.num_samples must be >= 1 (>= 2 with a "
                     f"baseline), got {c.topology.num_samples}")
  if c.topology.weight < 0:
    raise ValueError(f"config.topology.weight must be >= 0, got {c.topology.weight}")


# -- sampling genotypes from softmax(alpha) -----------------------------------------

@functools.lru_cache(maxsize=None)
def _node_edges(steps: int) -> tuple[np.ndarray, np.ndarray]:
  """[steps, steps + 1] edge row of (node i, input j) and its validity mask."""
  width = steps + 1
  offsets = darts_space.edge_offsets(steps)
  index = np.zeros((steps, width), np.int32)
  mask = np.zeros((steps, width), bool)
  for i in range(steps):
    for j in range(i + 2):
      index[i, j] = offsets[i] + j
      mask[i, j] = True
  return index, mask


def _steps_of(alpha: jax.Array) -> int:
  e = alpha.shape[0]
  for steps in range(1, 16):
    if darts_space.num_edges(steps) == e:
      return steps
  raise ValueError(f"alpha has {e} rows, which is no DARTS cell's edge count "
                   f"(2, 5, 9, 14, ...)")


def _edge_stats(alpha: jax.Array):
  """Edge strengths s_e = 1 - p_e(none) and log p_e(op | edge) for non-none ops."""
  log_q = jax.nn.log_softmax(alpha, axis=-1)
  log_s = jnp.log1p(-jnp.exp(log_q[:, 0]))
  log_op = log_q[:, 1:] - log_s[:, None]
  return log_s, log_op


def sample_cells(key: jax.Array, alpha: jax.Array, num: int
                 ) -> tuple[jax.Array, jax.Array]:
  """``num`` cells drawn from the distribution alpha defines (module docstring).

  Args:
    key: PRNG key.
    alpha: float[E, P] logits of one cell (column 0 is ``none``).
    num: number of samples.

  Returns:
    ``(ops, inputs)``, int32[num, steps, 2]: op indices into the config's
    primitives (1 .. P - 1) and DARTS input indices of each node's two edges.
  """
  steps = _steps_of(alpha)
  index, mask = _node_edges(steps)
  log_s, log_op = _edge_stats(alpha)
  logits = jnp.where(mask, log_s[index], -jnp.inf)

  def one(key):
    k_in, k_op = jax.random.split(key)
    gumbel = jax.random.gumbel(k_in, logits.shape)
    _, inputs = jax.lax.top_k(logits + gumbel, 2)  # without replacement
    edges = jnp.take_along_axis(jnp.asarray(index), inputs, axis=1)
    ops = 1 + jax.random.categorical(k_op, log_op[edges], axis=-1)
    return ops.astype(jnp.int32), inputs.astype(jnp.int32)

  return jax.vmap(one)(jax.random.split(key, num))


def cell_log_prob(alpha: jax.Array, ops: jax.Array, inputs: jax.Array) -> jax.Array:
  """log p of one sampled cell ``(ops, inputs)`` [steps, 2] under ``alpha`` [E, P]."""
  steps = _steps_of(alpha)
  chex.assert_shape([ops, inputs], (steps, 2))
  index, mask = _node_edges(steps)
  log_s, log_op = _edge_stats(alpha)
  strength = jnp.where(mask, jnp.exp(log_s)[index], 0.0)
  total = jnp.sum(strength, axis=1)
  s_pair = jnp.take_along_axis(strength, inputs, axis=1)
  s_a, s_b = s_pair[:, 0], s_pair[:, 1]
  log_pair = (jnp.log(s_a) + jnp.log(s_b) - jnp.log(total)
              + jnp.log(1.0 / (total - s_a) + 1.0 / (total - s_b)))
  edges = jnp.take_along_axis(jnp.asarray(index), inputs, axis=1)
  log_ops = jnp.take_along_axis(log_op[edges], (ops - 1)[..., None], axis=-1)[..., 0]
  return jnp.sum(log_pair) + jnp.sum(log_ops)


# -- F of genotypes -------------------------------------------------------------------

FFn = Callable[[jax.Array, jax.Array], jax.Array]  # (ops, inputs) [..., steps, 2] -> F


def make_cell_f(msf: MirrorStimuli, primitives=darts_space.PRIMITIVES) -> FFn:
  """F of cells given as ``(ops, inputs)`` (ops index ``primitives``), jittable."""
  if msf.opset != darts_space.DARTS_OPS:
    raise ValueError(f"the mirror stimuli function was fitted for op set "
                     f"{msf.opset.name!r}; the DARTS topology loss needs one fitted "
                     f"on the 'darts' space (the irl job with --config.space=darts)")
  to_global = jnp.asarray([darts_space.PRIMITIVES.index(p) for p in primitives],
                          jnp.int32)

  def cell_f(ops, inputs):
    return msf(darts_space.cells_to_blocks(to_global[ops], inputs, t_max=msf.t_max))

  return cell_f


def genotype_f(cell_f: FFn, samples: Mapping[str, tuple[jax.Array, jax.Array]]
               ) -> jax.Array:
  """F of genotypes: the mean of F over the normal and the reduction cell."""
  return 0.5 * (cell_f(*samples["normal"]) + cell_f(*samples["reduce"]))


def sample_genotypes(key: jax.Array, alphas: Alphas, num: int) -> dict:
  """``{"normal": (ops, inputs), "reduce": (ops, inputs)}``, cells independent."""
  keys = jax.random.split(key, len(CELLS))
  return {c: sample_cells(k, alphas[c], num) for c, k in zip(CELLS, keys)}


def genotype_log_prob(alphas: Alphas, samples: dict) -> jax.Array:
  """log p of each sampled genotype: [num]."""
  return sum(jax.vmap(cell_log_prob, in_axes=(None, 0, 0))(alphas[c], *samples[c])
             for c in CELLS)


def topology_loss(alphas: Alphas, key: jax.Array, cell_f: FFn, num_samples: int = 5,
                  baseline: bool = False) -> tuple[jax.Array, dict]:
  """The REINFORCE surrogate of Eq. 12, signed to raise E[F] (module docstring).

  ``jax.grad`` of the returned loss w.r.t. ``alphas`` is minus
  ``(1/K) sum_k (F(m_k) - b_k) grad log p(m_k)``. Returns ``(loss, aux)``
  with aux ``f`` (the K values of F) and ``f_mean``.
  """
  samples = sample_genotypes(key, alphas, num_samples)
  f = jax.lax.stop_gradient(genotype_f(cell_f, samples))
  if baseline:
    if num_samples < 2:
      raise ValueError("a leave-one-out baseline needs num_samples >= 2")
    advantage = f - (jnp.sum(f) - f) / (num_samples - 1)
  else:
    advantage = f
  log_p = genotype_log_prob(alphas, samples)
  loss = -jnp.mean(advantage * log_p)
  return loss, {"f": f, "f_mean": jnp.mean(f)}


def expected_f(alphas: Alphas, key: jax.Array, cell_f: FFn, num: int = 256) -> jax.Array:
  """Monte-Carlo E_{m ~ p_alpha}[F(m)] (the logged "expected F")."""
  return jnp.mean(genotype_f(cell_f, sample_genotypes(key, alphas, num)))


# -- genotype derivation --------------------------------------------------------------

def derive_cell(alpha, primitives=darts_space.PRIMITIVES) -> tuple[tuple[str, int], ...]:
  """DARTS' ``parse``: top-2 inputs by max non-none weight, then the best non-none op."""
  w = np.asarray(jax.nn.softmax(jnp.asarray(alpha), axis=-1))
  steps = _steps_of(w)
  none = list(primitives).index("none")
  keep = [k for k in range(len(primitives)) if k != none]
  cell = []
  for i, offset in enumerate(darts_space.edge_offsets(steps)):
    rows = w[offset: offset + i + 2]
    strength = rows[:, keep].max(axis=1)
    for j in sorted(range(i + 2), key=lambda j: -strength[j])[:2]:
      cell.append((primitives[keep[int(np.argmax(rows[j, keep]))]], j))
  return tuple(cell)


def derive_genotype(alphas: Alphas, primitives=darts_space.PRIMITIVES
                    ) -> darts_space.Genotype:
  """The discrete genotype of ``alphas`` (every intermediate node concatenated)."""
  normal = derive_cell(alphas["normal"], primitives)
  steps = len(normal) // 2
  concat = tuple(range(2, steps + 2))
  return darts_space.Genotype(normal, concat, derive_cell(alphas["reduce"], primitives),
                              concat)


def genotype_arrays(genotype: darts_space.Genotype, primitives=darts_space.PRIMITIVES
                    ) -> dict:
  """``{"normal": (ops, inputs), ...}`` int32[steps, 2] of a genotype (ops index primitives)."""
  out = {}
  for cell in CELLS:
    edges = getattr(genotype, cell)
    ops = np.array([list(primitives).index(o) for o, _ in edges], np.int32)
    inputs = np.array([j for _, j in edges], np.int32)
    out[cell] = (jnp.asarray(ops.reshape(-1, 2)), jnp.asarray(inputs.reshape(-1, 2)))
  return out


# -- the bilevel update -------------------------------------------------------------

def unrolled_alpha_grad(grad_fn: Callable, params, alphas, train_batch, val_batch,
                        xi, weight_decay: float = 0.0, r: float = 0.01):
  """DARTS' second-order alpha gradient (Eq. 7-8; module docstring).

  ``grad_fn(params, alphas, batch) -> (loss, grad_params, grad_alphas)``.
  Four gradient evaluations: the training loss at w, the validation loss at
  the unrolled w', the training loss at w+ and w-. Pure if ``grad_fn`` is
  (jittable as a whole), or eager over a jitted ``grad_fn`` (the search:
  one compiled supernet program serves all four).

  Returns ``(grad_alpha, validation loss at w')``.
  """
  _, g_train, _ = grad_fn(params, alphas, train_batch)
  unrolled = _unroll(params, g_train, xi, weight_decay)
  value, g_w, g_alpha = grad_fn(unrolled, alphas, val_batch)
  plus, minus, eps = _perturb(params, g_w, r)
  _, _, g_plus = grad_fn(plus, alphas, train_batch)
  _, _, g_minus = grad_fn(minus, alphas, train_batch)
  return _hessian_correction(g_alpha, g_plus, g_minus, eps, xi), value


@jax.jit
def _unroll(params, grads, xi, weight_decay):
  return jax.tree.map(lambda w, g: w - xi * (g + weight_decay * w), params, grads)


@jax.jit
def _perturb(params, direction, r):
  eps = r / (optax.tree.norm(direction) + 1e-12)
  plus = jax.tree.map(lambda w, v: w + eps * v, params, direction)
  minus = jax.tree.map(lambda w, v: w - eps * v, params, direction)
  return plus, minus, eps


@jax.jit
def _hessian_correction(g_alpha, g_plus, g_minus, eps, xi):
  return jax.tree.map(lambda g, p, m: g - xi * (p - m) / (2 * eps), g_alpha, g_plus,
                      g_minus)


@struct.dataclass
class DartsState:
  """Everything the search carries: weights, alpha and both optimizer states."""
  params: Any
  alphas: Alphas
  weight_opt_state: Any
  alpha_opt_state: Any
  step: jax.Array


def make_model(config: ml_collections.ConfigDict, num_classes: int
               ) -> darts_nn.DartsSearchNetwork:
  check_config(config)
  return darts_nn.DartsSearchNetwork(
      num_classes=num_classes, channels=config.channels, layers=config.layers,
      steps=config.steps, multiplier=config.multiplier,
      stem_multiplier=config.stem_multiplier, primitives=tuple(config.primitives),
      depthwise_impl=config.depthwise_impl)


def learning_rate_schedule(config, total_steps: int) -> optax.Schedule:
  """Cosine from ``learning_rate`` to ``learning_rate_min`` over the search."""
  return optax.cosine_decay_schedule(
      config.learning_rate, max(int(total_steps), 1),
      alpha=config.learning_rate_min / config.learning_rate)


def make_optimizers(config, total_steps: int):
  """``(weight_tx, alpha_tx, schedule)`` with DARTS' settings (module docstring)."""
  schedule = learning_rate_schedule(config, total_steps)
  weight_tx = optax.chain(
      optax.clip_by_global_norm(config.grad_clip),
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum))
  alpha_tx = optax.chain(
      optax.add_decayed_weights(config.arch_weight_decay),
      optax.adam(config.arch_learning_rate, b1=config.arch_beta1, b2=config.arch_beta2))
  return weight_tx, alpha_tx, schedule


def fast_init(model, key: jax.Array, *args) -> Any:
  """The model's parameters, LeCun-normal kernels, ones/zeros for BN scale/bias.

  Flax's jitted ``init`` of the supernet takes 20-60 s to compile on XLA:CPU
  (a threefry hash per parameter); this draws one flat normal vector and
  scales each kernel by 1/sqrt(fan_in) (fan_in: every axis but the last, and
  for [E, C, D] edge-group kernels the C axis), the untruncated version of
  Flax's ``lecun_normal``.
  """
  shapes = jax.eval_shape(model.init, jax.random.key(0), *args)["params"]
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  sizes = [int(np.prod(s.shape)) for _, s in leaves]
  flat = jax.random.normal(key, (sum(sizes),), jnp.float32)
  out, start = [], 0
  for (path, spec), size in zip(leaves, sizes):
    name = str(getattr(path[-1], "key", path[-1]))
    if name == "scale":
      out.append(jnp.ones(spec.shape, jnp.float32))
    elif name == "bias":
      out.append(jnp.zeros(spec.shape, jnp.float32))
    else:
      shape = spec.shape
      fan_in = shape[-2] if len(shape) == 3 else int(np.prod(shape[:-1]))
      out.append(flat[start: start + size].reshape(shape) / np.sqrt(fan_in))
    start += size
  return jax.tree_util.tree_unflatten(treedef, out)


def init_state(key: jax.Array, model, config, sample_images: jax.Array,
               weight_tx, alpha_tx) -> DartsState:
  k_alpha, k_params = jax.random.split(key)
  alphas = darts_nn.init_alphas(k_alpha, config.steps, len(config.primitives),
                                config.alpha_init_scale)
  params = fast_init(model, k_params, sample_images, alphas)
  return DartsState(params, alphas, weight_tx.init(params), alpha_tx.init(alphas),
                    jnp.zeros((), jnp.int32))


def cross_entropy(model, params, alphas, images, labels):
  """Mean cross-entropy and accuracy of the supernet on a batch."""
  logits = model.apply({"params": params}, images, alphas)
  loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  return loss, jnp.mean(jnp.argmax(logits, -1) == labels)


def make_grad_fn(model) -> Callable:
  """Jitted ``(params, alphas, (images, labels)) -> (loss, grad_params, grad_alphas)``.

  The one compiled supernet program of the search (forward and backward):
  the alpha step, the weight step and the second order's four gradient
  evaluations all call it, so XLA compiles the supernet once (about a minute
  on this CPU for the tiny setting; each separate copy inside one jitted
  step would add as much again).
  """
  def grad_fn(params, alphas, batch):
    images, labels = batch
    loss, (g_params, g_alphas) = jax.value_and_grad(
        lambda p, a: cross_entropy(model, p, a, images, labels)[0], argnums=(0, 1))(
            params, alphas)
    return loss, g_params, g_alphas
  return jax.jit(grad_fn)


def make_train_step(model, config, weight_tx, alpha_tx, schedule,
                    cell_f: FFn | None = None,
                    augment: Callable | None = None,
                    grad_fn: Callable | None = None) -> Callable:
  """One search step: ``step(state, train_batch, val_batch, key) -> (state, metrics)``.

  Batches are ``(images, labels)``. The alpha step uses the validation batch
  (and, second order, the training batch), then the weight step uses the
  training batch with the new alpha (DARTS' order). ``augment(key, images)``
  (optional, jittable) is applied to both batches. The topology loss is
  computed only when ``config.topology.weight > 0`` (then ``cell_f`` is
  required).

  The step is a Python function over a few jitted programs (the supernet's
  forward/backward :func:`make_grad_fn`, the topology-loss gradient, the
  optimizer updates); metrics are device arrays (no host sync). Steps of
  several settings on one model can share one ``grad_fn``
  (:func:`make_grad_fn`), hence one compile.
  """
  check_config(config)
  topo = config.topology
  use_topology = topo.weight > 0
  if use_topology and cell_f is None:
    raise ValueError("config.topology.weight > 0 needs cell_f (an MSF on the darts space)")
  order, ce_weight, topo_weight = int(config.order), float(config.ce_weight), float(topo.weight)
  grad_fn = make_grad_fn(model) if grad_fn is None else grad_fn

  @jax.jit
  def prepare(key, x_train, x_val):
    k_train, k_val, k_topo = jax.random.split(key, 3)
    if augment is not None:
      x_train, x_val = augment(k_train, x_train), augment(k_val, x_val)
    return x_train, x_val, k_topo

  @jax.jit
  def alpha_update(state, g_ce, key):
    g_alpha = jax.tree.map(lambda g: ce_weight * g, g_ce)
    metrics = {}
    if use_topology:
      g_topo, aux = jax.grad(topology_loss, has_aux=True)(
          state.alphas, key, cell_f, topo.num_samples, topo.baseline)
      g_alpha = jax.tree.map(lambda g, t: g + topo_weight * t, g_alpha, g_topo)
      metrics["sample_f"] = aux["f_mean"]
    updates, opt_state = alpha_tx.update(g_alpha, state.alpha_opt_state, state.alphas)
    return state.replace(alphas=optax.apply_updates(state.alphas, updates),
                         alpha_opt_state=opt_state), metrics

  @functools.partial(jax.jit, donate_argnums=(0,))
  def weight_update(state, g_w):
    updates, opt_state = weight_tx.update(g_w, state.weight_opt_state, state.params)
    return state.replace(params=optax.apply_updates(state.params, updates),
                         weight_opt_state=opt_state, step=state.step + 1)

  def step(state: DartsState, train_batch, val_batch, key):
    x_train, x_val, k_topo = prepare(key, train_batch[0], val_batch[0])
    train_batch, val_batch = (x_train, train_batch[1]), (x_val, val_batch[1])
    lr = schedule(state.step)
    if order == 1:
      val_loss, _, g_ce = grad_fn(state.params, state.alphas, val_batch)
    else:
      g_ce, val_loss = unrolled_alpha_grad(grad_fn, state.params, state.alphas,
                                           train_batch, val_batch, lr,
                                           config.weight_decay, config.unrolled_r)
    state, metrics = alpha_update(state, g_ce, k_topo)
    train_loss, g_w, _ = grad_fn(state.params, state.alphas, train_batch)
    state = weight_update(state, g_w)
    metrics.update(lr=lr, val_loss=val_loss, train_loss=train_loss)
    return state, metrics

  return step


def make_eval_step(model) -> Callable:
  """Jitted ``(params, alphas, images, labels) -> (sum of losses, number correct)``."""
  def evaluate(params, alphas, images, labels):
    logits = model.apply({"params": params}, images, alphas)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == labels)
  return jax.jit(evaluate)
