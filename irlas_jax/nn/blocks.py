"""One block as a Flax module, two ways: static (specialised) and dynamic (interpreted).

A block (Sec. 3.2, 3.4) maps an image batch float32[N, H, W, C] to
float32[N, H, W, C]: node 0 is the block input, layer ``t`` applies its op
(:mod:`irlas_jax.nn.ops`) to its pred nodes, and the layers without successor
(the sinks) form the output: the sink itself if there is one, else
``BN(sum_s W_s x_s)`` (the concat of the sinks and a 1x1 projection to C).

* :class:`StaticBlock` is built from one concrete block (host-side): the
  layers are a Python tuple baked into the module, so XLA compiles a program
  with only the ops present. Used for final training and latency.
* :class:`DynamicBlock` takes the block as traced arrays at call time (the
  :class:`~irlas_jax.spaces.block.Block` pytree, never static): a
  ``lax.scan`` over the ``t_max`` layer slots carries a node buffer
  float32[t_max + 1, N, H, W, C] (node 0 = the block input); slot ``t``
  gathers its inputs by pred index, selects its op by id with a lifted
  ``lax.switch`` (``nn.switch``, so BatchNorm statistics move only in the
  branch taken), writes node ``t``, and, if node ``t`` is a sink (a mask
  computed in jnp from ``(op, pred, length)``, :func:`sink_mask`), adds
  ``W_t x_t`` to the output sum (under ``lax.cond``). Padding and terminal
  slots write zeros and touch no variable. The reverse pass is hand-written
  (``jax.custom_vjp``, see :func:`_run_slots`): it recomputes each slot's
  selected op and accumulates input cotangents in place, so memory and time
  are linear in ``t_max`` (the derived one is quadratic and stores every
  op's residuals in every slot). One compiled program runs every block of
  the space; ``jax.vmap`` over (variables, block) trains a batch of
  architectures at once (the switches and conds become selects: every op of
  every slot is computed), ``lax.map`` runs one architecture after another
  with real branches (cheaper on one CPU/GPU, see DESIGN.md "Evaluators").
  Every slot holds the parameters of every parameterised op (the price of
  one program); their gradients are zero where the block does not use them.

**Parameter layout and the central contract.** For the same parameters the
two modules compute the same function (up to float rounding), in eval mode
and in train mode, and update the same BatchNorm statistics. Dynamic
variables (every collection; leading axis = slot ``t - 1``)::

  layer_slots/<op name>/...   e.g. layer_slots/dwconv3x3/depthwise/kernel [t_max, 3, 3, 1, C]
  layer_slots/output_row      [t_max, C, C]   (params only) row W_t of the output projection
  output/bn/...               BN of the output projection

Static variables of a block with layers ``(op_t, p1, p2)`` and sinks
``s_1 < ... < s_k``::

  layer_<t>/...               for each layer t whose op has parameters
  output/kernel               [k, C, C]   (only when k > 1)
  output/bn/...

:func:`static_variables_from_dynamic` maps the dynamic variables to the
static ones (slot ``t - 1`` of op ``op_t`` for each parameterised layer; rows
``s_i - 1`` of ``output_row``; the output BN when k > 1), at any nesting
depth (a block, a network, any module holding dynamic blocks);
:func:`dynamic_variables_from_static` writes static variables back (e.g. the
batch statistics after a static train step). Slots that a block does not use
keep their values.

The dynamic block keeps all its slots' variables in one entry per
collection, ``layer_slots`` (a pytree made by a vmapped ``init`` of the
slot module over ``t_max`` split keys: every slot has its own random
parameters). Its gradient comes from the hand-written reverse pass:
forward-mode differentiation (``jax.jvp``) of a dynamic block is not
supported, and no gradient flows through updated batch statistics (as in
any BN training loop).

Both modules accept only the block space's op kinds (``ops.SUPPORTED_KINDS``)
and op sets with one input slot. The dynamic module trusts its block
(validate it host-side with ``irlas_jax.spaces.validate``; inside jit there
is nothing to raise with): op ids outside the real ops are padding and out of
range preds are clamped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.nn import ops
from irlas_jax.spaces.block import Block, from_layers, to_layers, validate
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet

LAYER_SLOTS = "layer_slots"
OUTPUT_ROW = "output_row"
OUTPUT = "output"

Layers = tuple[tuple[str, int, int], ...]


# -- checks --------------------------------------------------------------------

def check_opset(opset: OpSet, where: str) -> None:
  """Raises ValueError unless every op of ``opset`` is implemented here."""
  if opset.num_inputs != 1:
    raise ValueError(f"{where}: op set {opset.name!r} has {opset.num_inputs} input "
                     f"slots; blocks in irlas_jax.nn take one input")
  for spec in opset.ops:
    ops.check_supported(spec)


def check_image(x: Any, where: str) -> None:
  """Raises ValueError unless ``x`` is a float array [N, H, W, C]."""
  shape = getattr(x, "shape", None)
  if shape is None or len(shape) != 4:
    raise ValueError(f"{where}: expected an image batch [N, H, W, C], got "
                     f"{'shape ' + str(tuple(shape)) if shape is not None else type(x).__name__}")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"{where}: expected a float image batch, got dtype {x.dtype}")


def check_traced_block(block: Any, t_max: int, opset: OpSet, where: str) -> None:
  """Raises ValueError unless ``block`` is one Block of ``opset`` and ``t_max``."""
  if not isinstance(block, Block):
    raise ValueError(f"{where}: expected an irlas_jax.spaces.Block, got "
                     f"{type(block).__name__}")
  if block.opset != opset:
    raise ValueError(f"{where}: block has op set {block.opset.name!r}, the module "
                     f"was built for {opset.name!r}")
  if block.op.ndim != 1:
    raise ValueError(f"{where}: expected one block (op of shape [t_max]), got op "
                     f"of shape {tuple(block.op.shape)}; for a batch of blocks, "
                     f"jax.vmap or jax.lax.map over the block and variables")
  if block.t_max != t_max:
    raise ValueError(f"{where}: block has t_max={block.t_max}, the module was built "
                     f"for t_max={t_max}")
  if tuple(block.pred.shape) != (t_max, 2) or tuple(block.length.shape) != ():
    raise ValueError(f"{where}: block arrays have inconsistent shapes: op "
                     f"{tuple(block.op.shape)}, pred {tuple(block.pred.shape)}, "
                     f"length {tuple(block.length.shape)}")


# -- the block's structure -------------------------------------------------------

def block_layers(block: Block | Sequence, opset: OpSet = BLOCK_OPS) -> Layers:
  """The validated layers ``((op_name, pred1, pred2), ...)`` of a concrete block.

  ``block`` is a :class:`Block` (concrete arrays, one block) or a sequence
  of ``(op_name, pred1[, pred2])`` layers; commutative preds come back in
  canonical order (pred1 > pred2).

  Raises:
    ValueError: for a malformed block (naming the layer), a batch of blocks,
      or a traced block (a static module needs the block on the host).
  """
  if isinstance(block, Block):
    if block.batch_shape:
      raise ValueError(f"expected one block, got a batch of shape {block.batch_shape}")
    try:
      validate(block)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
      raise ValueError("a static block needs a concrete block (host arrays), got a "
                       "traced one; pass traced blocks to DynamicBlock") from None
    return tuple(to_layers(block))
  if isinstance(block, (str, bytes)) or not isinstance(block, Sequence):
    raise ValueError(f"expected a Block or a sequence of (op_name, pred1, pred2) "
                     f"layers, got {type(block).__name__}")
  try:
    layers = tuple((str(layer[0]),) + tuple(int(p) for p in layer[1:])
                   if isinstance(layer, Sequence) and not isinstance(layer, (str, bytes))
                   and layer else layer for layer in block)
    hash(layers)
  except (TypeError, ValueError):
    layers = tuple(block)  # from_layers names what is wrong with it
    return _validated_layers_uncached(layers, opset)
  return _validated_layers(layers, opset)


def _validated_layers_uncached(layers: tuple, opset: OpSet) -> Layers:
  # Modules are also built inside traces (jit, eval_shape): keep this on the host.
  with jax.ensure_compile_time_eval():
    return tuple(to_layers(from_layers(list(layers), t_max=max(len(layers), 1),
                                       opset=opset)))


# Modules are re-created (cloned) often; validating the same layers once is enough.
_validated_layers = functools.lru_cache(maxsize=4096)(_validated_layers_uncached)


def sinks_of_layers(layers: Sequence[tuple[str, int, int]],
                    opset: OpSet = BLOCK_OPS) -> tuple[int, ...]:
  """Layer numbers t (= node indices) without successor, ascending (host-side)."""
  used = set()
  for name, p1, p2 in layers:
    used.add(p1)
    if opset.ops[opset.op_id(name)].arity == 2:
      used.add(p2)
  return tuple(t for t in range(1, len(layers) + 1) if t not in used)


def sink_mask(block: Block) -> jax.Array:
  """bool[..., t_max]: layer slot ``t - 1`` is a real layer without successor.

  Pure jnp (jit- and vmap-able): a real layer ``s`` consumes node
  ``pred[s, 0]``, and ``pred[s, 1]`` if its op takes two inputs.
  """
  opset, t_max = block.opset, block.t_max
  t = jnp.arange(1, t_max + 1)
  real = t <= block.length[..., None]
  op = jnp.clip(block.op, 0, len(opset.names) - 1)
  two_inputs = jnp.asarray(opset.arity_table)[op] == 2
  # consumes[..., s, n]: real layer s reads node n.
  consumes = (block.pred[..., :, 0, None] == t) | (
      two_inputs[..., :, None] & (block.pred[..., :, 1, None] == t))
  used = jnp.any(consumes & real[..., :, None], axis=-2)
  return real & ~used


# -- static ----------------------------------------------------------------------

class StaticBlock(nn.Module):
  """A block compiled from its concrete layers (Sec. 3.4): only its ops are in the program.

  Attributes:
    block: a concrete :class:`Block` or a sequence of ``(op_name, pred1,
      pred2)`` layers; stored as the validated tuple of layers (so the
      module is hashable and its structure is Python data).
    opset: the op set of the layers (taken from ``block`` if it is a Block).
    bn_momentum, bn_epsilon: BatchNorm settings.
    depthwise_impl: how depthwise convs are computed (``ops.depthwise_conv``).

  ``__call__(x, train=False)``: x float32[N, H, W, C] -> float32[N, H, W, C].
  """
  block: Any
  opset: OpSet = BLOCK_OPS
  bn_momentum: float = ops.DEFAULT_BN_MOMENTUM
  bn_epsilon: float = ops.DEFAULT_BN_EPSILON
  depthwise_impl: str = "auto"

  def __post_init__(self):
    if isinstance(self.block, Block):
      object.__setattr__(self, "opset", self.block.opset)
    check_opset(self.opset, "StaticBlock")
    ops.resolve_depthwise_impl(self.depthwise_impl)
    object.__setattr__(self, "block", block_layers(self.block, self.opset))
    super().__post_init__()

  @property
  def sinks(self) -> tuple[int, ...]:
    return sinks_of_layers(self.block, self.opset)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    check_image(x, "StaticBlock")
    nodes = [x.astype(jnp.float32)]
    for t, (name, p1, p2) in enumerate(self.block, start=1):
      spec = self.opset.ops[self.opset.op_id(name)]
      module = ops.make_op_module(spec, self.bn_momentum, self.bn_epsilon,
                                  self.depthwise_impl, name=f"layer_{t}")
      nodes.append(ops.apply_op(spec, module, nodes[p1], nodes[p2], train))
    sinks = self.sinks
    if len(sinks) == 1:
      return nodes[sinks[0]]
    return ops.SinkProjection(len(sinks), self.bn_momentum, self.bn_epsilon,
                              name=OUTPUT)([nodes[s] for s in sinks], train)


# -- dynamic ---------------------------------------------------------------------

class _SlotOps(nn.Module):
  """The variables and the computation of one layer slot of the dynamic block.

  Holds the variables of every parameterised op (named by op name) and the
  slot's output-projection row ``output_row`` [C, C]. ``__call__(index, a,
  b, is_sink, train)`` applies op ``index`` (``num_ops`` = padding: zeros) to
  the inputs with a lifted switch (only the selected op's BN statistics
  move) and returns ``(out, out . output_row if is_sink else 0)``. Used
  functionally (``init``/``apply``) by :func:`_run_slots`.
  """
  opset: OpSet
  features: int
  bn_momentum: float
  bn_epsilon: float
  depthwise_impl: str

  def setup(self):
    for spec in self.opset.ops:
      if ops.is_parameterised(spec):
        setattr(self, spec.name, ops.make_op_module(
            spec, self.bn_momentum, self.bn_epsilon, self.depthwise_impl))
    self.output_row = self.param(
        OUTPUT_ROW, nn.initializers.lecun_normal(),
        (self.features, self.features), jnp.float32)

  def __call__(self, index, a, b, is_sink, train: bool):
    def branch(spec):
      return lambda mdl, a, b: ops.apply_op(spec, getattr(mdl, spec.name, None),
                                            a, b, train)

    def padding(mdl, a, b):
      del mdl, b
      return jnp.zeros_like(a)

    branches = [branch(spec) for spec in self.opset.ops] + [padding]
    if self.is_initializing():
      for spec in self.opset.ops:  # create every op's variables
        if ops.is_parameterised(spec):
          branch(spec)(self, a, b)
    if isinstance(index, int):  # a known op: no switch
      out = branches[index](self, a, b)
    else:
      out = nn.switch(index, branches, self, a, b)
    row = self.output_row
    projected = jax.lax.cond(is_sink, lambda: ops.project_pointwise(out, row),
                             lambda: jnp.zeros_like(out))
    return out, projected


def _run_slots(slot: _SlotOps, train: bool, params, batch_stats, x, index, pred,
               is_sink):
  """All layer slots of the dynamic block: ``(nodes, sink_sum, new_batch_stats)``.

  ``params``/``batch_stats`` are the slot variables stacked on a leading
  [t_max] axis; ``index`` int32[t_max] the op to apply (``num_ops`` =
  padding), ``pred`` int32[t_max, 2], ``is_sink`` bool[t_max]. A
  ``lax.scan`` over slots carries the node buffer float32[t_max + 1, N, H,
  W, C] (node 0 = x): slot t reads nodes ``pred[t - 1]``, writes node t and
  adds its sink projection to ``sink_sum``.

  The reverse pass is written by hand (``jax.custom_vjp``) because the one
  that JAX derives is quadratic in t_max: the transpose of each slot's read
  ``buffer[p]`` is a full-buffer array ``zeros.at[p].set(ct)`` added to the
  buffer's cotangent, i.e. t_max + 1 activations of memory traffic per slot,
  and differentiating a switch stores the residuals of every branch in every
  slot. Here the only residual is the final node buffer (every node is
  written once, so it holds every slot's inputs), the reverse scan
  recomputes each slot's selected op under ``jax.vjp`` (rematerialisation;
  the switch is outside the vjp so that only the selected op is
  differentiated) and scatter-adds the two input cotangents into the
  buffer's cotangent in place. Cost per slot: the op's forward and backward
  and O(1) activations of memory traffic. Gradients do not
  flow through the updated batch statistics (as in any BN training loop);
  forward-mode differentiation (jvp) of the dynamic block is not supported.
  """
  t_max = index.shape[0]
  nodes = jnp.arange(1, t_max + 1)

  def apply_slot(p, s, index_t, a, b, is_sink_t):
    variables = {"params": p, "batch_stats": s}
    (out, projected), updates = slot.apply(variables, index_t, a, b, is_sink_t,
                                           train, mutable=["batch_stats"])
    return out, projected, updates.get("batch_stats", s)

  def read(buffer, node):
    return jax.lax.dynamic_index_in_dim(buffer, node, 0, keepdims=False)

  def forward(params, batch_stats, x):
    buffer = jnp.zeros((t_max + 1,) + x.shape, x.dtype).at[0].set(x)

    def step(carry, slot_t):
      buffer, sink_sum = carry
      p, s, index_t, pred_t, is_sink_t, node = slot_t
      out, projected, s = apply_slot(p, s, index_t, read(buffer, pred_t[0]),
                                     read(buffer, pred_t[1]), is_sink_t)
      buffer = jax.lax.dynamic_update_index_in_dim(buffer, out, node, 0)
      return (buffer, sink_sum + projected), s

    (buffer, sink_sum), new_stats = jax.lax.scan(
        step, (buffer, jnp.zeros_like(x)),
        (params, batch_stats, index, pred, is_sink, nodes))
    return buffer, sink_sum, new_stats

  @jax.custom_vjp
  def run(params, batch_stats, x):
    return forward(params, batch_stats, x)

  def run_fwd(params, batch_stats, x):
    buffer, sink_sum, new_stats = forward(params, batch_stats, x)
    return (buffer, sink_sum, new_stats), (params, batch_stats, buffer)

  def run_bwd(residuals, cotangents):
    params, batch_stats, buffer = residuals
    ct_buffer, ct_sink_sum, _ = cotangents  # no gradient through new statistics

    def step(ct_buffer, slot_t):
      p, s, index_t, pred_t, is_sink_t, node = slot_t
      a, b = read(buffer, pred_t[0]), read(buffer, pred_t[1])
      ct_out = read(ct_buffer, node)

      def op_vjp(op_index):
        def run():
          _, vjp = jax.vjp(lambda p, s, a, b: apply_slot(
              p, s, op_index, a, b, is_sink_t)[:2], p, s, a, b)
          return vjp((ct_out, ct_sink_sum))
        return run

      # The switch is outside the vjp: differentiating inside a switch would
      # materialise (zero-filled) residuals of every op.
      ct_p, ct_s, ct_a, ct_b = jax.lax.switch(
          index_t, [op_vjp(i) for i in range(slot.opset.num_ops + 1)])
      # One scatter-add of both input cotangents (pred1 == pred2 for one-input
      # ops): updated in place, where two dependent slice updates make XLA
      # copy the whole buffer every slot.
      ct_buffer = ct_buffer.at[pred_t].add(jnp.stack([ct_a, ct_b]), mode="clip")
      return ct_buffer, (ct_p, ct_s)

    ct_buffer, (ct_params, ct_stats) = jax.lax.scan(
        step, ct_buffer, (params, batch_stats, index, pred, is_sink, nodes),
        reverse=True)
    return ct_params, ct_stats, ct_buffer[0]

  run.defvjp(run_fwd, run_bwd)
  return run(params, batch_stats, x)


class _OutputNorm(nn.Module):
  """The dynamic block's output: the single sink, or BN of the projected sum."""
  bn_momentum: float
  bn_epsilon: float

  def setup(self):
    self.bn = nn.BatchNorm(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                           dtype=jnp.float32, param_dtype=jnp.float32)

  def __call__(self, output_sum, single_sink, one_sink: jax.Array, train: bool):
    def project(mdl, output_sum, single_sink):
      del single_sink
      return mdl.bn(output_sum, use_running_average=not train)

    def pass_through(mdl, output_sum, single_sink):
      del mdl, output_sum
      return single_sink

    if self.is_initializing():
      project(self, output_sum, single_sink)
    return nn.cond(one_sink, pass_through, project, self, output_sum, single_sink)


class DynamicBlock(nn.Module):
  """One module for every block of the space: the block is a call-time array (Sec. 3.4).

  Attributes:
    t_max: number of layer slots (the blocks' padded size).
    opset: the op set of the blocks.
    bn_momentum, bn_epsilon: BatchNorm settings.
    depthwise_impl: how depthwise convs are computed (``ops.depthwise_conv``).

  ``__call__(x, block, train=False)``: x float32[N, H, W, C] and one Block
  (traced or concrete) -> float32[N, H, W, C].
  """
  t_max: int
  opset: OpSet = BLOCK_OPS
  bn_momentum: float = ops.DEFAULT_BN_MOMENTUM
  bn_epsilon: float = ops.DEFAULT_BN_EPSILON
  depthwise_impl: str = "auto"

  def __post_init__(self):
    if not isinstance(self.t_max, int) or self.t_max < 1:
      raise ValueError(f"DynamicBlock: t_max must be a positive int, got {self.t_max!r}")
    check_opset(self.opset, "DynamicBlock")
    ops.resolve_depthwise_impl(self.depthwise_impl)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, block: Block, train: bool = False) -> jax.Array:
    check_image(x, "DynamicBlock")
    check_traced_block(block, self.t_max, self.opset, "DynamicBlock")
    x = x.astype(jnp.float32)
    slot = _SlotOps(self.opset, x.shape[-1], self.bn_momentum, self.bn_epsilon,
                    self.depthwise_impl, parent=None)
    zeros = jnp.zeros_like(x)

    def init_slots(rng):  # every slot's variables, stacked on a leading axis
      return jax.vmap(lambda key: slot.init(key, self.opset.num_ops, zeros, zeros,
                                            False, False))(
          jax.random.split(rng, self.t_max))

    params = self.param(LAYER_SLOTS, lambda rng: init_slots(rng)["params"])
    # Statistics do not depend on the key (XLA drops the unused random init).
    batch_stats = self.variable(
        "batch_stats", LAYER_SLOTS,
        lambda: init_slots(jax.random.key(0)).get("batch_stats", {}))
    num_ops = self.opset.num_ops
    index = jnp.where((block.op >= 0) & (block.op < num_ops), block.op, num_ops)
    sink = sink_mask(block)
    buffer, sink_sum, new_stats = _run_slots(slot, train, params, batch_stats.value,
                                             x, index, block.pred, sink)
    if train and not self.is_initializing():
      batch_stats.value = new_stats
    first_sink = jnp.argmax(sink) + 1
    single_sink = jax.lax.dynamic_index_in_dim(buffer, first_sink, 0, keepdims=False)
    return _OutputNorm(self.bn_momentum, self.bn_epsilon, name=OUTPUT)(
        sink_sum, single_sink, jnp.sum(sink) == 1, train)


# -- parameter mapping -------------------------------------------------------------

def _is_dynamic_block_tree(tree: Any) -> bool:
  return isinstance(tree, Mapping) and LAYER_SLOTS in tree


def _static_block_tree(layers: Layers, sinks: tuple[int, ...], tree: Mapping) -> dict:
  slots = tree[LAYER_SLOTS]
  static = {}
  for t, (name, _, _) in enumerate(layers, start=1):
    if name in slots:
      static[f"layer_{t}"] = jax.tree.map(lambda v, i=t - 1: v[i], _plain(slots[name]))
  if len(sinks) > 1:
    output = {}
    if OUTPUT_ROW in slots:
      output["kernel"] = slots[OUTPUT_ROW][np.asarray(sinks) - 1]
    if OUTPUT in tree:
      output.update(_plain(tree[OUTPUT]))
    if output:
      static[OUTPUT] = output
  return static


def _plain(tree: Any) -> Any:
  """Nested Mappings (FrozenDicts too) as plain dicts."""
  if isinstance(tree, Mapping):
    return {k: _plain(v) for k, v in tree.items()}
  return tree


def _without_empty(tree: dict) -> dict:
  return {k: v for k, v in tree.items() if not (isinstance(v, dict) and not v)}


def _map_to_static(layers, sinks, tree):
  if _is_dynamic_block_tree(tree):
    return _static_block_tree(layers, sinks, tree)
  if isinstance(tree, Mapping):
    return _without_empty({k: _map_to_static(layers, sinks, v) for k, v in tree.items()})
  return tree


def static_variables_from_dynamic(block: Block | Sequence, dynamic_variables: Mapping,
                                  opset: OpSet = BLOCK_OPS) -> dict:
  """The static module's variables that compute what ``dynamic_variables`` compute on ``block``.

  Works on any variables dict (``{"params": ..., "batch_stats": ...}``) of
  a module holding :class:`DynamicBlock` s: each dynamic block subtree
  becomes the matching :class:`StaticBlock` subtree (see the module
  docstring), everything else is copied. Empty subtrees and collections
  are dropped, as Flax's ``init`` of the static module drops them. Host-side
  (``block`` must be concrete); the arrays are indexed, not copied to host.
  """
  if isinstance(block, Block):
    opset = block.opset
  layers = block_layers(block, opset)
  sinks = sinks_of_layers(layers, opset)
  return _without_empty({col: _map_to_static(layers, sinks, tree)
                         for col, tree in dynamic_variables.items()})


def _dynamic_block_tree(layers, sinks, dynamic: Mapping, static: Mapping) -> dict:
  dynamic = _plain(dynamic)
  slots = dict(dynamic[LAYER_SLOTS])
  for t, (name, _, _) in enumerate(layers, start=1):
    key = f"layer_{t}"
    if name in slots and key in static:
      slots[name] = jax.tree.map(lambda d, s, i=t - 1: d.at[i].set(s),
                                 slots[name], _plain(static[key]))
  static_output = _plain(static.get(OUTPUT, {}))
  if len(sinks) > 1 and static_output:
    if OUTPUT_ROW in slots and "kernel" in static_output:
      slots[OUTPUT_ROW] = slots[OUTPUT_ROW].at[np.asarray(sinks) - 1].set(
          static_output["kernel"])
    if OUTPUT in dynamic:
      dynamic[OUTPUT] = {k: static_output.get(k, v)
                         for k, v in dynamic[OUTPUT].items()}
  dynamic[LAYER_SLOTS] = slots
  return dynamic


def _map_to_dynamic(layers, sinks, dynamic, static):
  if _is_dynamic_block_tree(dynamic):
    return _dynamic_block_tree(layers, sinks, dynamic, static)
  if isinstance(dynamic, Mapping):
    static = static if isinstance(static, Mapping) else {}
    return {k: _map_to_dynamic(layers, sinks, v, static.get(k)) for k, v in dynamic.items()}
  return dynamic if static is None else static


def dynamic_variables_from_static(block: Block | Sequence, static_variables: Mapping,
                                  dynamic_variables: Mapping,
                                  opset: OpSet = BLOCK_OPS) -> dict:
  """``dynamic_variables`` with the entries used by ``block`` replaced by the static ones.

  The inverse of :func:`static_variables_from_dynamic` on the slots the block
  uses: ``static_variables_from_dynamic(block, dynamic_variables_from_static(
  block, s, d)) == s``; unused slots keep their values from
  ``dynamic_variables``. Use it to write back, e.g., the batch statistics of
  a static train step. Collections absent from ``static_variables`` are
  kept as they are.
  """
  if isinstance(block, Block):
    opset = block.opset
  layers = block_layers(block, opset)
  sinks = sinks_of_layers(layers, opset)
  return {col: _map_to_dynamic(layers, sinks, tree, static_variables.get(col))
          if col in static_variables else _plain(tree)
          for col, tree in dynamic_variables.items()}
