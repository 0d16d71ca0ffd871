"""StaticBlock vs DynamicBlock: same function for the same parameters, one compile, vmap/map."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from irlas_jax import nn as irlas_nn
from irlas_jax.spaces import (BLOCK_OPS, OpSet, OpSpec, experts, from_layers,
                              sample_uniform, stack_blocks, unstack_blocks)

T_MAX = 7  # the largest expert (resnext) has 7 layers
SHAPE = (2, 8, 8, 8)  # N, H, W, C
DYNAMIC = irlas_nn.DynamicBlock(T_MAX)


def random_variables(abstract_variables, seed):
  """Random variables of the given shapes, drawn with numpy (no XLA compile).

  Kernels are normal, BN scales, shifts and running statistics are random too,
  so that eval-mode BN is not the identity and a wrong slot shows.
  """
  rng = np.random.default_rng(seed)

  def leaf(path, abstract):
    name, shape = path[-1].key, abstract.shape
    if name == "scale":
      value = rng.uniform(0.5, 1.5, shape)
    elif name in ("bias", "mean"):
      value = 0.3 * rng.standard_normal(shape)
    elif name == "var":
      value = rng.uniform(0.5, 2.0, shape)
    else:
      value = 0.3 * rng.standard_normal(shape)
    return jnp.asarray(value, jnp.float32)

  return jax.tree_util.tree_map_with_path(leaf, abstract_variables)


POOL = sample_uniform(jax.random.key(0), 256, T_MAX)


def covering_random_blocks():
  """A few uniform random blocks in which every op appears, with lengths 1 and t_max."""
  pool = unstack_blocks(POOL)
  lengths = [int(b.length) for b in pool]
  chosen = [pool[lengths.index(1)], pool[lengths.index(T_MAX)]]
  seen = set()
  for b in chosen:
    seen |= set(np.asarray(b.op)[:int(b.length)].tolist())
  for b in pool:
    ops = set(np.asarray(b.op)[:int(b.length)].tolist())
    if ops - seen:
      chosen.append(b)
      seen |= ops
  assert seen == set(range(BLOCK_OPS.num_ops))
  assert {int(b.length) for b in chosen} >= {1, T_MAX}
  return chosen


RANDOM_BLOCKS = covering_random_blocks()
BLOCKS = {f"random{i}": b for i, b in enumerate(RANDOM_BLOCKS)}
BLOCKS.update({name: experts.get(name, T_MAX) for name in experts.names("block")})


def abstract_dynamic_variables():
  return jax.eval_shape(DYNAMIC.init, jax.random.key(0),
                        jax.ShapeDtypeStruct(SHAPE, jnp.float32), RANDOM_BLOCKS[0])


@functools.cache
def dynamic_variables():
  return random_variables(abstract_dynamic_variables(), 1)


def image(seed=2):
  return jax.random.normal(jax.random.key(seed), SHAPE)


# Blocks are traced arguments: these compile once for every block (checked below).
@jax.jit
@chex.assert_max_traces(n=1)
def dynamic_eval(variables, x, block):
  return DYNAMIC.apply(variables, x, block)


@jax.jit
@chex.assert_max_traces(n=1)
def dynamic_train(variables, x, block):
  return DYNAMIC.apply(variables, x, block, train=True, mutable=["batch_stats"])


def assert_trees_close(got, want, atol=1e-5):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5),
               got, want)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_static_matches_dynamic(name):
  block = BLOCKS[name]
  static = irlas_nn.StaticBlock(block)
  variables = dynamic_variables()
  static_variables = irlas_nn.static_variables_from_dynamic(block, variables)
  x = image()

  want = dynamic_eval(variables, x, block)
  got = static.apply(static_variables, x)
  assert float(jnp.std(want)) > 0.1
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)

  want, want_updates = dynamic_train(variables, x, block)
  got, got_updates = static.apply(static_variables, x, train=True,
                                  mutable=["batch_stats"])
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
  mapped = irlas_nn.static_variables_from_dynamic(block, want_updates)
  assert_trees_close(got_updates, mapped)
  # BN statistics moved where the block has parameterised layers.
  if got_updates:
    before = static_variables["batch_stats"]
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, before,
                                                got_updates["batch_stats"])))


@pytest.mark.parametrize("name", ["random0", "random1", "resnet", "resnext", "densenet"])
def test_mapped_variables_have_the_static_layout(name):
  block = BLOCKS[name]
  mapped = irlas_nn.static_variables_from_dynamic(block, dynamic_variables())
  own = jax.eval_shape(irlas_nn.StaticBlock(block).init, jax.random.key(0),
                       jax.ShapeDtypeStruct(SHAPE, jnp.float32))
  assert jax.tree.structure(mapped) == jax.tree.structure(own)
  assert jax.tree.map(jnp.shape, mapped) == jax.tree.map(jnp.shape, own)


def test_single_sink_block_outputs_its_sink_without_projection():
  resnet = BLOCKS["resnet"]
  assert irlas_nn.sinks_of_layers(irlas_nn.block_layers(resnet)) == (3,)
  mapped = irlas_nn.static_variables_from_dynamic(resnet, dynamic_variables())
  assert "output" not in mapped["params"]
  resnext = BLOCKS["resnext"]
  assert irlas_nn.sinks_of_layers(irlas_nn.block_layers(resnext)) == (7,)
  densenet = BLOCKS["densenet"]
  assert irlas_nn.sinks_of_layers(irlas_nn.block_layers(densenet)) == (6,)
  two_sinks = from_layers([("dwconv3x3", 0, 0), ("maxpool3x3", 0, 0)], T_MAX)
  mapped = irlas_nn.static_variables_from_dynamic(two_sinks, dynamic_variables())
  assert mapped["params"]["output"]["kernel"].shape == (2, 8, 8)


def test_sink_mask_matches_host_sinks():
  blocks = POOL[:64]
  mask = np.asarray(jax.jit(irlas_nn.sink_mask)(blocks))
  for i, block in enumerate(unstack_blocks(blocks)):
    sinks = irlas_nn.sinks_of_layers(irlas_nn.block_layers(block))
    np.testing.assert_array_equal(np.flatnonzero(mask[i]) + 1, sinks)


def test_one_compilation_for_every_block():
  variables = dynamic_variables()
  x = image()
  blocks = RANDOM_BLOCKS + [BLOCKS["resnet"], BLOCKS["densenet"]]
  assert {int(b.length) for b in blocks} >= {1, T_MAX} and len(blocks) >= 5
  for block in blocks:
    dynamic_eval(variables, x, block)  # assert_max_traces(n=1) raises on a retrace
    dynamic_train(variables, x, block)
  assert dynamic_eval._cache_size() == 1
  assert dynamic_train._cache_size() == 1


def test_dynamic_variables_from_static_round_trip():
  block = BLOCKS["resnext"]
  variables = dynamic_variables()
  static = irlas_nn.static_variables_from_dynamic(block, variables)
  static = jax.tree.map(lambda v: v + 1.0, static)
  written = irlas_nn.dynamic_variables_from_static(block, static, variables)
  assert jax.tree.structure(written) == jax.tree.structure(variables)
  assert_trees_close(irlas_nn.static_variables_from_dynamic(block, written), static,
                     atol=0)
  # Slots the block does not use keep their values.
  slots, old = written["params"]["layer_slots"], variables["params"]["layer_slots"]
  np.testing.assert_array_equal(slots["dwconv5x5"]["bn"]["scale"],
                                old["dwconv5x5"]["bn"]["scale"])
  np.testing.assert_array_equal(slots["dwconv3x3"]["bn"]["scale"][0],
                                old["dwconv3x3"]["bn"]["scale"][0])
  np.testing.assert_array_equal(slots["dwconv3x3"]["bn"]["scale"][1],
                                old["dwconv3x3"]["bn"]["scale"][1] + 1.0)


def test_vmap_and_lax_map_over_architectures_equal_a_loop():
  """Outputs, statistics and gradients (hand-written reverse pass under vmap)."""
  blocks = [RANDOM_BLOCKS[1], RANDOM_BLOCKS[2], BLOCKS["resnext"]]
  batch = stack_blocks(blocks)
  x = image()
  abstract = abstract_dynamic_variables()
  variables = jax.tree.map(lambda *leaves: jnp.stack(leaves),
                           *[random_variables(abstract, 10 + i) for i in range(len(blocks))])

  def one(v, b):
    return DYNAMIC.apply(v, x, b, train=True, mutable=["batch_stats"])

  by_vmap = jax.jit(jax.vmap(one))(variables, batch)
  target = image(seed=3)
  grads_by_vmap = jax.jit(jax.vmap(dynamic_grads, in_axes=(0, None, 0, None)))(
      variables, x, batch, target)
  by_map = jax.jit(lambda v, b: jax.lax.map(lambda vb: one(*vb), (v, b)))(variables, batch)
  for i, block in enumerate(blocks):
    v_i = jax.tree.map(lambda a, i=i: a[i], variables)
    want = dynamic_train(v_i, x, block)
    assert_trees_close(jax.tree.map(lambda a, i=i: a[i], by_vmap), want)
    assert_trees_close(jax.tree.map(lambda a, i=i: a[i], by_map), want)
    assert_trees_close(jax.tree.map(lambda a, i=i: a[i], grads_by_vmap),
                       dynamic_grads_jit(v_i, x, block, target))
  assert not np.allclose(by_vmap[0][0], by_vmap[0][1])


def test_invalid_inputs_are_value_errors():
  variables = dynamic_variables()
  x = image()
  with pytest.raises(ValueError, match="t_max=5, the module was built for t_max=7"):
    DYNAMIC.apply(variables, x, experts.get("resnet", 5))
  with pytest.raises(ValueError, match="expected one block"):
    DYNAMIC.apply(variables, x, stack_blocks(RANDOM_BLOCKS[:2]))
  with pytest.raises(ValueError, match=r"image batch \[N, H, W, C\]"):
    DYNAMIC.apply(variables, x[0], BLOCKS["resnet"])
  with pytest.raises(ValueError, match="expected an irlas_jax.spaces.Block"):
    DYNAMIC.apply(variables, x, [("identity", 0, 0)])
  with pytest.raises(ValueError, match="layer 2 .*pred1=2 is not an earlier node"):
    irlas_nn.StaticBlock([("identity", 0, 0), ("dwconv3x3", 2, 0)])
  with pytest.raises(ValueError, match="unknown op 'conv7x7'"):
    irlas_nn.StaticBlock([("conv7x7", 0, 0)])
  with pytest.raises(ValueError, match="needs a concrete block"):
    jax.jit(lambda b: irlas_nn.StaticBlock(b).apply({}, x))(BLOCKS["resnet"])
  with pytest.raises(ValueError, match="t_max must be a positive int"):
    irlas_nn.DynamicBlock(0)
  other = OpSet("other", (OpSpec("sepconv3x3", "sepconv", kernel=3),))
  with pytest.raises(ValueError, match="does not implement"):
    irlas_nn.DynamicBlock(T_MAX, opset=other)


def test_static_block_accepts_layers_or_block():
  layers = [("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("add", 0, 2)]
  assert irlas_nn.StaticBlock(layers).block == irlas_nn.StaticBlock(BLOCKS["resnet"]).block
  assert irlas_nn.StaticBlock(layers).block[2] == ("add", 2, 0)  # canonical order


def test_init_gives_every_slot_its_own_parameters():
  # An rbg key: much faster to compile on CPU than threefry; flax splits it the same way.
  x = image()
  variables = jax.jit(DYNAMIC.init)(jax.random.key(0, impl="rbg"), x, BLOCKS["resnet"])
  shapes = jax.tree.map(jnp.shape, variables)
  assert shapes == jax.tree.map(jnp.shape, abstract_dynamic_variables())
  kernels = variables["params"]["layer_slots"]["dwconv3x3"]["depthwise"]["kernel"]
  assert kernels.shape == (T_MAX, 3, 3, 1, 8)
  assert len({np.asarray(k).tobytes() for k in kernels}) == T_MAX
  stats = variables["batch_stats"]["layer_slots"]["concat"]["bn"]
  np.testing.assert_array_equal(stats["mean"], 0.0)
  np.testing.assert_array_equal(stats["var"], 1.0)


def loss_and_grads(apply, variables, target):
  """Gradients of a squared error in train mode (params) and eval mode (params, stats)."""
  def loss(params, batch_stats, train):
    y = apply({"params": params, "batch_stats": batch_stats}, train)
    return jnp.mean((y - target) ** 2)

  params, batch_stats = variables["params"], variables["batch_stats"]
  return (jax.grad(loss)(params, batch_stats, True),
          jax.grad(loss, argnums=(0, 1))(params, batch_stats, False))


def dynamic_grads(variables, x, block, target):
  def apply(v, train):
    if train:
      return DYNAMIC.apply(v, x, block, train=True, mutable=["batch_stats"])[0]
    return DYNAMIC.apply(v, x, block)
  return loss_and_grads(apply, variables, target)


dynamic_grads_jit = jax.jit(dynamic_grads)


@pytest.mark.parametrize("name", ["random1", "resnet", "densenet"])
def test_gradients_match_and_vanish_on_unused_slots(name):
  # random1 has three sinks (projected output); the experts have one.
  block = BLOCKS[name]
  variables = dynamic_variables()
  static = irlas_nn.StaticBlock(block)
  static_variables = irlas_nn.static_variables_from_dynamic(block, variables)
  x, target = image(), image(seed=3)

  def static_apply(v, train):
    if train:
      return static.apply(v, x, train=True, mutable=["batch_stats"])[0]
    return static.apply(v, x)

  want_train, (want_eval, want_eval_stats) = dynamic_grads_jit(variables, x, block, target)
  got_train, (got_eval, got_eval_stats) = loss_and_grads(static_apply, static_variables,
                                                         target)
  zeros = jax.tree.map(jnp.zeros_like, variables)
  for got, want in ((got_train, want_train), (got_eval, want_eval)):
    embedded = irlas_nn.dynamic_variables_from_static(block, {"params": got}, zeros)
    assert_trees_close(embedded["params"], want, atol=1e-5)
  embedded = irlas_nn.dynamic_variables_from_static(
      block, {"batch_stats": got_eval_stats}, zeros)
  assert_trees_close(embedded["batch_stats"], want_eval_stats, atol=1e-5)
  assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(want_eval_stats))
