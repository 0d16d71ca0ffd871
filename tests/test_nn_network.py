"""Networks: config checks, presets, StaticNetwork == DynamicNetwork."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from irlas_jax import nn as irlas_nn
from irlas_jax.spaces import experts, from_layers
from tests.test_nn_blocks import random_variables

T_MAX = 6
CONFIG = irlas_nn.tiny()
IMAGES = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))
LABELS = jnp.array([0, 3, 7, 9])
DYNAMIC = irlas_nn.DynamicNetwork(CONFIG, T_MAX)
BLOCKS = {
    # three sinks (2, 5, 6), every parameterised op, pools, add
    "multi_sink": from_layers([("dwconv3x3", 0, 0), ("avgpool3x3", 0, 0),
                               ("concat", 2, 1), ("dwconv5x5", 3, 0),
                               ("maxpool5x5", 4, 0), ("dwconv1x1", 4, 0)], T_MAX),
    "resnet": experts.get("resnet", T_MAX),
}


@functools.cache
def dynamic_variables():
  abstract = jax.eval_shape(DYNAMIC.init, jax.random.key(0), IMAGES, BLOCKS["resnet"])
  return random_variables(abstract, 0)


@jax.jit
def dynamic_eval(variables, block):
  return DYNAMIC.apply(variables, IMAGES, block)


@jax.jit
def dynamic_train(variables, block):
  return DYNAMIC.apply(variables, IMAGES, block, train=True, mutable=["batch_stats"])


def assert_trees_close(got, want, atol=1e-5):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, atol=atol, rtol=1e-4),
               got, want)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_static_network_matches_dynamic_network(name):
  block = BLOCKS[name]
  variables = dynamic_variables()
  static_variables = irlas_nn.static_variables_from_dynamic(block, variables)
  static = irlas_nn.StaticNetwork(block, CONFIG)

  want = dynamic_eval(variables, block)
  assert want.shape == (4, CONFIG.num_classes)
  np.testing.assert_allclose(static.apply(static_variables, IMAGES), want,
                             atol=1e-5, rtol=1e-5)

  want, want_updates = dynamic_train(variables, block)
  got, got_updates = static.apply(static_variables, IMAGES, train=True,
                                  mutable=["batch_stats"])
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
  assert_trees_close(got_updates,
                     irlas_nn.static_variables_from_dynamic(block, want_updates))


def test_static_network_has_the_mapped_layout():
  for block in BLOCKS.values():
    mapped = irlas_nn.static_variables_from_dynamic(block, dynamic_variables())
    own = jax.eval_shape(irlas_nn.StaticNetwork(block, CONFIG).init, jax.random.key(0),
                         IMAGES)
    assert jax.tree.map(jnp.shape, mapped) == jax.tree.map(jnp.shape, own)
    assert set(own["params"]) == {"stem", "stage0_block0", "transition1",
                                  "stage1_block0", "head"}


def test_count_params_by_hand():
  # tiny() with the ResNet expert (dw3 -> dw3 -> add, one sink: no output projection):
  stem = 3 * 3 * 1 * 8 + 2 * 8
  dwconv3 = lambda c: 9 * c + c * c + 2 * c
  transition = 9 * 8 + 8 * 16 + 2 * 16
  head = 16 * 10 + 10
  want = stem + 2 * dwconv3(8) + transition + 2 * dwconv3(16) + head
  static = irlas_nn.StaticNetwork(BLOCKS["resnet"], CONFIG)
  abstract = jax.eval_shape(static.init, jax.random.key(0), IMAGES)
  assert irlas_nn.count_params(abstract) == want == 1658
  assert irlas_nn.count_params(abstract["params"]) == want


def _count(config, block):
  x = jax.ShapeDtypeStruct((1, config.image_size, config.image_size, 3), jnp.float32)
  return irlas_nn.count_params(jax.eval_shape(
      irlas_nn.StaticNetwork(block, config).init, jax.random.key(0), x))


def test_presets():
  resnet = experts.get("resnet")
  cifar = irlas_nn.cifar10()
  assert cifar.num_blocks == 10  # Sec. 4.2
  assert 2.0e6 < _count(cifar, resnet) < 3.0e6
  mobile = irlas_nn.imagenet_mobile()
  assert mobile.image_size == 224 and mobile.num_blocks > cifar.num_blocks
  assert 1.0e6 < _count(mobile, resnet) < 2.0e6
  assert 3.0e6 < _count(mobile, experts.get("resnext")) < 4.0e6
  assert irlas_nn.cifar10_proxy().num_blocks == 3
  assert set(irlas_nn.PRESETS) == {"cifar10", "imagenet_mobile", "cifar10_proxy", "tiny"}


@pytest.mark.parametrize("downsample", ["maxpool", "avgpool"])
def test_pool_downsampling(downsample):
  config = CONFIG.replace(downsample=downsample, stem_width=4)
  static = irlas_nn.StaticNetwork(BLOCKS["resnet"], config)
  variables = static.init(jax.random.key(0, impl="rbg"), IMAGES)
  assert set(variables["params"]["transition1"]) == {"pointwise", "bn"}
  # stem_width 4 != widths[0] 8: a stride-1 projection in front of stage 0.
  assert variables["params"]["transition0"]["pointwise"]["kernel"].shape == (4, 8)
  logits = static.apply(variables, IMAGES)
  assert logits.shape == (4, 10) and bool(jnp.all(jnp.isfinite(logits)))


def test_config_from_dict_and_config_dict():
  config = irlas_nn.NetworkConfig.from_dict(ml_collections.ConfigDict(
      {"widths": [8, 16], "repeats": [1, 2], "downsample": "avgpool"}))
  assert config.widths == (8, 16) and config.repeats == (1, 2)
  assert irlas_nn.NetworkConfig.from_dict(config.to_dict()) == config
  hash(config)  # a hashable module attribute


@pytest.mark.parametrize("changes, message", [
    ({"widths": (8, 16), "repeats": (1,)}, "different lengths"),
    ({"widths": ()}, "at least one stage"),
    ({"downsample": "stride"}, "downsample must be one of"),
    ({"repeats": (0,)}, "repeats must be positive"),
    ({"bn_momentum": 1.0}, "bn_momentum"),
    ({"widths": 8}, "widths must be a sequence"),
])
def test_bad_configs_are_value_errors(changes, message):
  with pytest.raises(ValueError, match=message):
    irlas_nn.NetworkConfig(**{"widths": (8,), "repeats": (1,), **changes})


def test_bad_inputs_are_value_errors():
  variables = dynamic_variables()
  with pytest.raises(ValueError, match="unknown NetworkConfig field.*'width'"):
    irlas_nn.NetworkConfig.from_dict({"width": 3})
  with pytest.raises(ValueError, match="config must be a NetworkConfig"):
    irlas_nn.DynamicNetwork({"widths": (8,)}, T_MAX)
  with pytest.raises(ValueError, match="t_max=24, the module was built for t_max=6"):
    DYNAMIC.apply(variables, IMAGES, experts.get("resnet"))
  with pytest.raises(ValueError, match=r"image batch \[N, H, W, C\], got shape \(8, 8, 1\)"):
    DYNAMIC.apply(variables, IMAGES[0], BLOCKS["resnet"])
  with pytest.raises(ValueError, match="layer 1 .*pred1=1 is not an earlier node"):
    irlas_nn.StaticNetwork([("dwconv3x3", 1, 0)], CONFIG)
