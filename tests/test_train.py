"""Final training (Sec. 4.2) and the ImageNet-mobile transfer.

Resume after an interruption equals an unbroken run bit for bit; the
schedule and the optimizer match hand computations; the model sources; the
ImageNet-mobile network has its parameter budget within 10% and trains end
to end on tfds mock data.
"""

import json
import math
import os
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import jobs
from experiments.configs import imagenet_mobile
from experiments.configs import train_cifar10
from irlas_jax import io
from irlas_jax import nn as nn_lib
from irlas_jax.evaluate import final_training
from irlas_jax.spaces import complex_blocks


def _tiny_config():
  config = train_cifar10.get_config("runlocal")
  config.num_epochs = 3
  config.batch_size = 32
  config.data.max_examples = 240  # 192 train (6 steps per epoch), 48 validation
  config.tensorboard = False
  config.model.network_overrides.widths = (8,)
  config.model.network_overrides.repeats = (1,)
  return config


class _Interrupt(Exception):
  pass


def _metrics(workdir):
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  for r in records:
    r.pop("epoch_s"), r.pop("train_images_per_s")
  return records


def test_interrupted_run_resumed_equals_an_unbroken_run(tmp_path):
  config = _tiny_config()
  log = lambda _: None
  unbroken = final_training.train_and_evaluate(config, str(tmp_path / "a"), log=log)
  assert len(unbroken["metrics"]) == 3 and not unbroken["resumed"]

  def interrupt(step):  # in the middle of epoch 2, after checkpoint 1
    if step == 9:
      raise _Interrupt
  with pytest.raises(_Interrupt):
    final_training.train_and_evaluate(config, str(tmp_path / "b"), log=log,
                                      on_step=interrupt)
  assert [json.loads(l)["epoch"] for l in open(tmp_path / "b" / "metrics.jsonl")] == [1]
  lines = []
  resumed = final_training.train_and_evaluate(config, str(tmp_path / "b"),
                                              log=lines.append)
  assert resumed["resumed"] and lines[0].startswith("resumed at epoch 1 (step 6)")
  for a, b in zip(jax.tree_util.tree_leaves(unbroken["state"]),
                  jax.tree_util.tree_leaves(resumed["state"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bit for bit
  assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
  assert [r["epoch"] for r in _metrics(tmp_path / "b")] == [1, 2, 3]
  assert int(resumed["state"].step) == 18
  final = io.read_json(str(tmp_path / "b" / "final_training.json"))
  assert final["epochs"] == 3 and final["params"] == resumed["params"]
  assert 0.0 <= final["final"]["eval_accuracy"] <= 100.0
  assert final["final"]["eval_examples"] == 48
  # A finished run started again trains nothing; another config is refused.
  again = final_training.train_and_evaluate(config, str(tmp_path / "b"), log=log)
  assert again["resumed"] and len(again["metrics"]) == 3
  config.learning_rate = 0.3
  with pytest.raises(ValueError, match="learning_rate: 0.1 in the workdir, 0.3 now"):
    final_training.train_and_evaluate(config, str(tmp_path / "b"), log=log)


def test_cosine_schedule_matches_the_formula():
  config = train_cifar10.get_config()
  assert (config.learning_rate, config.num_epochs, config.batch_size) == (0.2, 600, 256)
  assert (config.momentum, config.weight_decay) == (0.9, 5e-4)
  assert (config.data.cutout_size, config.data.crop_padding, config.data.flip) == (16, 4, True)
  config.num_epochs = 4
  schedule = final_training.learning_rate_schedule(config, steps_per_epoch=5)
  total = 20
  for step in (0, 1, 7, 10, 19, 20):
    expected = 0.5 * 0.2 * (1 + math.cos(math.pi * step / total))
    assert float(schedule(step)) == pytest.approx(expected, abs=1e-7)


def test_sgd_momentum_and_decay_on_kernels_only():
  config = train_cifar10.get_config()
  config.learning_rate, config.num_epochs = 0.1, 1000  # nearly constant early on
  tx = final_training.make_optimizer(config, steps_per_epoch=1)
  params = {"conv": {"kernel": jnp.full((1, 1, 2, 2), 2.0)},
            "bn": {"scale": jnp.full((2,), 3.0), "bias": jnp.full((2,), 1.0)}}
  grads = jax.tree_util.tree_map(lambda x: jnp.full_like(x, 0.5), params)
  state = tx.init(params)
  lr = lambda s: 0.5 * 0.1 * (1 + math.cos(math.pi * s / 1000))
  # Hand computation: g' = g + wd * w (kernels only); m = 0.9 m + g'; w -= lr m.
  w_k, w_s, m_k, m_s = 2.0, 3.0, 0.0, 0.0
  for step in range(2):
    updates, state = tx.update(grads, state, params)
    params = jax.tree_util.tree_map(lambda p, u: p + u, params, updates)
    m_k = 0.9 * m_k + 0.5 + 5e-4 * w_k
    m_s = 0.9 * m_s + 0.5
    w_k, w_s = w_k - lr(step) * m_k, w_s - lr(step) * m_s
  np.testing.assert_allclose(params["conv"]["kernel"], w_k, rtol=1e-6)
  np.testing.assert_allclose(params["bn"]["scale"], w_s, rtol=1e-6)


def test_model_sources(tmp_path):
  model = train_cifar10.get_config("runlocal").model
  net, info = final_training.build_model(model, (8, 8, 1), 10, log=None)
  assert net.block == (("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("add", 2, 0))
  model.expert = "nasnet_a_like"
  net, _ = final_training.build_model(model, (8, 8, 1), 10, log=None)
  assert list(net.block) == complex_blocks.layers("nasnet_a_like")
  rows = [{"layers": [["maxpool3x3", 0, 0]]},
          {"layers": [["dwconv5x5", 0, 0], ["add", 1, 0]]}]
  io.write_json(str(tmp_path / "best_blocks.json"), rows)
  model.source, model.block_file, model.rank = ("block_file",
                                                str(tmp_path / "best_blocks.json"), 2)
  net, info = final_training.build_model(model, (8, 8, 1), 10, log=None)
  assert net.block == (("dwconv5x5", 0, 0), ("add", 1, 0))
  assert info["network"]["num_classes"] == 10 and info["network"]["image_size"] == 8
  model.rank = 3
  with pytest.raises(ValueError, match="config.model.rank=3 but .* holds 2 blocks"):
    final_training.build_model(model, (8, 8, 1), 10)
  model.source = "darts_genotype"  # without a genotype
  with pytest.raises(ValueError, match="config.model.genotype must be a DARTS genotype"):
    final_training.build_model(model, (8, 8, 1), 10)
  with pytest.raises(ValueError, match="not a block of the block space"):
    final_training.block_layers_of(model)
  model.source, model.expert = "expert", "vgg"
  with pytest.raises(ValueError, match="config.model.expert='vgg'"):
    final_training.build_model(model, (8, 8, 1), 10)


def test_imagenet_mobile_network_has_its_parameter_budget():
  config = imagenet_mobile.get_config()
  assert config.data.image_size == 224 and config.batch_size == 256
  assert config.model.param_budget == 5_000_000 and config.eval_split == "validation"
  for expert in ("resnet", "densenet"):
    config.model.expert = expert
    net, info = final_training.build_model(config.model, (224, 224, 3), 1000, log=None)
    assert tuple(info["network"]["repeats"]) == (2, 3, 4, 3)
    shapes = jax.eval_shape(lambda k: net.init(k, jnp.zeros((1, 224, 224, 3)), False),
                            jax.random.key(0))
    n = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(shapes["params"]))
    assert abs(n - 5_000_000) <= 0.1 * 5_000_000, (expert, n)
    assert all(w % 8 == 0 for w in info["network"]["widths"])
    assert info["network"]["widths"][-1] > nn_lib.imagenet_mobile().widths[-1] or \
        expert == "densenet"


def test_imagenet_mobile_runlocal_on_mock_data(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets.core  # noqa: F401  pylint: disable=g-import-not-at-top
  config = imagenet_mobile.get_config("runlocal")
  config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=16), mock.patch.object(
      tfds.core.DatasetBuilder, "is_prepared", return_value=True):
    result = jobs.run(config, str(tmp_path / "run"))
  final = result["final"]
  # mock_data yields num_examples records whatever the split's slice.
  assert final["epoch"] == 1 and final["eval_examples"] == 16
  assert result["state"].params["head"]["classifier"]["kernel"].shape == (16, 1000)
  assert (tmp_path / "run" / "metrics.jsonl").exists()


def test_data_parallel_training_follows_single_device_training(tmp_path):
  """The batch split over 4 (simulated) devices: the same run up to float
  reduction order (the gradient and BatchNorm sums are all-reduced)."""
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  children = {}
  for name, flags in (("one", ""), ("four", "--xla_force_host_platform_device_count=4")):
    workdir = tmp_path / name
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    children[name] = (workdir, subprocess.Popen(
        [sys.executable, os.path.join(root, "tests", "train_child.py"), str(workdir)],
        env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  results = {}
  for name, (workdir, child) in children.items():
    _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
    results[name] = json.loads((workdir / "result.json").read_text())
  one, four = results["one"], results["four"]
  assert one["devices"] == 1 and four["devices"] == 4
  assert len(one["metrics"]) == 2
  for a, b in zip(one["metrics"], four["metrics"]):
    assert a["step"] == b["step"]
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
    assert b["eval_accuracy"] == pytest.approx(a["eval_accuracy"], abs=2.1)  # 1 of 48
  assert four["placement_devices"] == 4  # the batches really were split
  for p1, p4 in zip(one["params"], four["params"]):
    np.testing.assert_allclose(p4, p1, rtol=1e-3, atol=1e-4)


def test_a_darts_genotype_trains_in_the_darts_evaluation_network(tmp_path):
  from irlas_jax.spaces import darts as darts_space
  config = train_cifar10.get_config("darts,runlocal")
  config.num_epochs, config.tensorboard = 1, False
  config.data.max_examples = 80
  config.model.darts.layers, config.model.darts.channels = 3, 4
  path = tmp_path / "genotype.txt"
  path.write_text(str(darts_space.DARTS_V2) + "\n")
  config.model.genotype = str(path)
  out = final_training.train_and_evaluate(config, str(tmp_path / "run"), log=lambda _: None)
  assert [m["epoch"] for m in out["metrics"]] == [1]
  assert all(math.isfinite(m["train_loss"]) for m in out["metrics"])
  info = io.read_json(str(tmp_path / "run" / "final_training.json"))
  assert info["model"]["genotype"] == str(darts_space.DARTS_V2)
  assert "auxiliary_head" in out["state"].params
  # A bad genotype is named.
  config.model.genotype = "Genotype(normal=[('conv_9x9', 0)])"
  with pytest.raises(ValueError, match="config.model.genotype"):
    final_training.train_and_evaluate(config, str(tmp_path / "bad"), log=lambda _: None)
