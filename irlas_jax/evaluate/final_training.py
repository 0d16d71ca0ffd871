"""Final training of a searched block's network (Sec. 4.2), with exact resume.

``train_and_evaluate(config, workdir)`` builds the static network of one
block (:func:`build_model`: from a search's ``best_blocks.json``, a named
expert or complicated block, or a DARTS genotype), trains it with the
paper's recipe and evaluates it on the test split after every epoch:

* SGD with momentum 0.9, weight decay 5e-4, batch 256, learning rate 0.2
  annealed by a cosine schedule to 0 over 600 epochs (Sec. 4.2), every
  number a field of :func:`default_config`;
* augmentation on device: random crop, horizontal flip, Cutout
  (:func:`irlas_jax.data.augment`; normalisation from the data config);
* a jitted train step ``(state, images, labels) -> (state, metrics)`` that
  donates the state; the key of step ``s`` is ``fold_in(key(seed), s)``, so
  nothing depends on how many steps ran in this process;
* an orbax checkpoint of the whole train state after every epoch (with the
  metrics history as JSON), resumed automatically from the workdir: batches
  are a function of ``(data.seed, epoch)`` and keys of the step, so a killed
  run resumed from its last checkpoint ends bit for bit where an unbroken
  run ends (``tests/test_train.py``);
* metrics as JSON lines (``metrics.jsonl``, one line per epoch, rewritten
  from the checkpoint on resume so no epoch is logged twice) and TensorBoard
  event files where TensorFlow is installed.

Decisions the paper leaves open:

* Weight decay is L2 added to the gradient (``optax.add_decayed_weights``
  before SGD, as the reference PyTorch/TF CIFAR-10 recipes do) and applies
  to conv and dense kernels only, not to BatchNorm scales/offsets or biases.
* The cosine schedule is per step, from ``learning_rate`` to 0 over
  ``num_epochs * steps_per_epoch`` steps, after an optional linear warm-up
  (``warmup_epochs``, 0 in the paper setting).
* An epoch is ``floor(N / batch_size)`` full batches (the last partial batch
  is dropped); evaluation covers every example (padded, masked batches).
* The final network trains on the whole training split (no validation
  carve) and reports accuracy on ``eval_split`` (``"test"`` for CIFAR-10).
* Data parallelism: every batch is split over all devices (of every
  process, ``jax.distributed``) along its batch axis, the train state is
  replicated, and XLA's SPMD partitioner inserts the gradient and BatchNorm
  all-reduces; the arithmetic is that of one device on the whole batch (the
  random augmentation too: threefry keys are partitionable), so a run on 4
  devices follows a run on 1 up to float reduction order
  (``tests/test_train.py``). ``batch_size`` must divide by the device count.
  Each process loads the same batches (same seed) and contributes its own
  devices' shards (``jax.make_array_from_callback``).
* A DARTS genotype (``model.source = "darts_genotype"``, IRLAS-differential
  in Table 1) trains in DARTS' evaluation network
  (:class:`irlas_jax.nn.DartsEvalNetwork`: ``model.darts.layers`` cells of
  ``model.darts.channels``, auxiliary head, drop-path) instead of the block
  network: the auxiliary logits add ``auxiliary_weight`` (0.4) times their
  cross-entropy to the loss, and the drop-path probability rises linearly
  with the epoch, ``drop_path_prob * epoch / num_epochs``, as in DARTS
  (computed from the step inside the jitted step; no recompile). The rest
  of the recipe is this config's (``train_cifar10.py:darts`` sets DARTS'
  own numbers). ``model.genotype`` is a genotype in the DARTS format or the
  path of a darts job's ``genotype.txt`` / ``genotype.json``.
* A non-finite training loss stops the run with ``FloatingPointError``
  (an error, not a silent number); the last good checkpoint stays.
* ``model.param_budget`` (the ImageNet-mobile setting, "about 5M
  parameters") scales every width of the preset by one multiplier: the
  parameter count is exactly quadratic in a common width multiplier, so it
  is counted (``jax.eval_shape``, nothing allocated) at three multipliers,
  the quadratic is solved for the budget, and the widths are rounded to
  multiples of ``model.width_multiple`` (:func:`fit_param_budget`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from irlas_jax import data as data_lib
from irlas_jax import io
from irlas_jax import nn as nn_lib
from irlas_jax.nn import network as network_lib
from irlas_jax.spaces import complex_blocks, experts
from irlas_jax.spaces import darts as darts_space
from irlas_jax.spaces.block import from_layers
from irlas_jax.spaces.opset import BLOCK_OPS

MODEL_SOURCES = ("block_file", "expert", "darts_genotype")
# Fields that may change between a run and its resume (they only change how
# the run is watched).
RESUMABLE_FIELDS = ("tensorboard", "log_every_steps", "distributed")


def default_config() -> ml_collections.ConfigDict:
  """The paper's CIFAR-10 final training (Sec. 4.2)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = ml_collections.ConfigDict()
  c.model.source = "expert"  # one of MODEL_SOURCES
  c.model.expert = "resnet"  # experts.names() or complex_blocks.names()
  c.model.block_file = ml_collections.FieldReference(None, field_type=str)
  c.model.rank = 1  # which row of block_file (1 = the best)
  c.model.genotype = ml_collections.FieldReference(None, field_type=str)
  c.model.network = "cifar10"  # Sec. 4.2: 10 blocks (irlas_jax.nn.PRESETS)
  c.model.network_overrides = ml_collections.ConfigDict()
  c.model.param_budget = ml_collections.FieldReference(None, field_type=int)
  c.model.width_multiple = 8
  c.model.darts = ml_collections.ConfigDict()  # DARTS' evaluation network (its defaults)
  c.model.darts.channels = 36  # C
  c.model.darts.layers = 20  # cells
  c.model.darts.auxiliary = True
  c.model.darts.auxiliary_weight = 0.4
  c.model.darts.drop_path_prob = 0.2
  c.num_epochs = 600  # Sec. 4.2
  c.batch_size = 256  # Sec. 4.2
  c.learning_rate = 0.2  # Sec. 4.2: cosine schedule from 0.2
  c.warmup_epochs = 0
  c.momentum = 0.9  # Sec. 4.2
  c.nesterov = False
  c.weight_decay = 5e-4  # Sec. 4.2
  c.eval_split = "test"
  c.eval_batch_size = 256
  c.keep_checkpoints = 2
  c.log_every_steps = 100
  c.tensorboard = True
  data = data_lib.default_config("cifar10")
  data.validation_fraction = 0.0  # train on all 50,000 images
  data.normalize = True  # Sec. 4.2: crop, flip, Cutout (data defaults) + mean/std
  c.data = data
  return c


# -- the model -------------------------------------------------------------------

def block_layers_of(model_config) -> list[tuple[str, int, int]]:
  """The ``(op, pred1, pred2)`` layers that ``model_config`` names."""
  source = model_config.source
  if source == "expert":
    name = model_config.expert
    if name in experts.names():
      return experts.layers(name)
    if name in complex_blocks.names():
      return complex_blocks.layers(name)
    raise ValueError(f"config.model.expert={name!r} is neither an expert "
                     f"({', '.join(experts.names())}) nor a complicated block "
                     f"({', '.join(complex_blocks.names())})")
  if source == "block_file":
    path = model_config.block_file
    if not path:
      raise ValueError("config.model.block_file must name a best_blocks.json "
                       "(written by the search job) when config.model.source is "
                       "'block_file'")
    if not os.path.exists(path):
      raise ValueError(f"config.model.block_file={path!r} does not exist")
    rows = io.read_json(path)
    rank = int(model_config.rank)
    if not isinstance(rows, list) or not 1 <= rank <= len(rows):
      raise ValueError(f"config.model.rank={rank} but {path!r} holds "
                       f"{len(rows) if isinstance(rows, list) else 'no'} blocks")
    row = rows[rank - 1]
    if "layers" not in row:
      raise ValueError(f"row {rank} of {path!r} has no 'layers' (not a "
                       f"best_blocks.json?)")
    return [tuple(layer) for layer in row["layers"]]
  if source == "darts_genotype":
    raise ValueError("a DARTS genotype is not a block of the block space: it trains "
                     "in the DARTS evaluation network (build_model)")
  raise ValueError(f"config.model.source={source!r}; known sources: "
                   f"{', '.join(MODEL_SOURCES)}")


def network_config(model_config, image_shape, num_classes) -> network_lib.NetworkConfig:
  """The preset of ``model_config.network`` with the data's classes and size."""
  return network_lib.from_preset(model_config.network,
                                 model_config.get("network_overrides"),
                                 where="config.model", num_classes=int(num_classes),
                                 image_size=int(image_shape[0]))


def count_network_params(layers, config: network_lib.NetworkConfig,
                         channels: int = 3) -> int:
  """Parameters of the static network (shapes only: nothing is allocated)."""
  model = nn_lib.StaticNetwork(tuple(layers), config, BLOCK_OPS)
  size = 32  # parameters do not depend on the image size (global pooling)
  x = jax.ShapeDtypeStruct((1, size, size, channels), jnp.float32)
  shapes = jax.eval_shape(lambda k, x: model.init(k, x, False), jax.random.key(0), x)
  return nn_lib.count_params(shapes)


def _scaled(config: network_lib.NetworkConfig, m: float, multiple: int):
  r = lambda w: max(multiple, int(round(w * m / multiple)) * multiple)
  return config.replace(stem_width=r(config.stem_width),
                        widths=tuple(r(w) for w in config.widths))


def fit_param_budget(layers, config: network_lib.NetworkConfig, budget: int,
                     multiple: int = 8, channels: int = 3
                     ) -> tuple[network_lib.NetworkConfig, int]:
  """Scales every width of ``config`` by one multiplier to about ``budget`` params.

  Returns the scaled config and its exact parameter count. The count is a
  quadratic in the multiplier (pointwise convs and concat projections are
  quadratic in the width, depthwise convs, BN and the classifier linear), so
  three exact counts at multipliers 1, 2, 3 determine it.
  """
  if not isinstance(budget, int) or budget <= 0:
    raise ValueError(f"config.model.param_budget must be a positive int, got {budget!r}")
  counts = [count_network_params(layers, config.replace(
      stem_width=config.stem_width * m, widths=tuple(w * m for w in config.widths)),
      channels) for m in (1, 2, 3)]
  a, b, c = np.polyfit([1.0, 2.0, 3.0], np.asarray(counts, np.float64), 2)
  roots = [r.real for r in np.roots([a, b, c - budget]) if abs(r.imag) < 1e-9 and r.real > 0]
  if not roots:
    raise ValueError(f"config.model.param_budget={budget}: no width multiplier reaches it "
                     f"(the preset has {counts[0]} parameters)")
  scaled = _scaled(config, max(roots), multiple)
  return scaled, count_network_params(layers, scaled, channels)


def genotype_of(model_config) -> darts_space.Genotype:
  """The DARTS genotype of ``model_config.genotype`` (a string or a file)."""
  text = model_config.get("genotype")
  if not text:
    raise ValueError("config.model.genotype must be a DARTS genotype or the path of "
                     "a genotype.txt / genotype.json when config.model.source is "
                     "'darts_genotype'")
  if os.path.exists(text):
    if text.endswith(".json"):
      saved = io.read_json(text)
      if not isinstance(saved, dict) or "genotype" not in saved:
        raise ValueError(f"config.model.genotype={text!r} has no 'genotype' field")
      text = saved["genotype"]
    else:
      with open(text) as f:
        text = f.read()
  try:
    return darts_space.Genotype.parse(text)
  except ValueError as e:
    raise ValueError(f"config.model.genotype: {e}") from None


def build_model(model_config, image_shape, num_classes, log=print):
  """``(network, info)`` of the block or genotype ``model_config`` names."""
  log = log or (lambda _: None)
  if model_config.source == "darts_genotype":
    if model_config.get("param_budget") is not None:
      raise ValueError("config.model.param_budget scales the block network; for a "
                       "DARTS genotype set config.model.darts.channels")
    genotype = genotype_of(model_config)
    d = model_config.darts
    model = nn_lib.DartsEvalNetwork(
        genotype, num_classes=int(num_classes), channels=int(d.channels),
        layers=int(d.layers), auxiliary=bool(d.auxiliary),
        drop_path_prob=float(d.drop_path_prob))
    return model, {"genotype": str(genotype), "network": "darts_eval",
                   "darts": d.to_dict()}
  layers = block_layers_of(model_config)
  from_layers(layers, t_max=max(len(layers), 1), opset=BLOCK_OPS)  # ValueError names the layer
  net = network_config(model_config, image_shape, num_classes)
  if model_config.get("param_budget") is not None:
    net, params = fit_param_budget(layers, net, int(model_config.param_budget),
                                   int(model_config.width_multiple), image_shape[-1])
    log(f"widths scaled to the budget of {int(model_config.param_budget):,} parameters: "
        f"stem {net.stem_width}, stages {net.widths} ({params:,} parameters)")
  return nn_lib.StaticNetwork(tuple(layers), net, BLOCK_OPS), {
      "layers": [list(layer) for layer in layers], "network": net.to_dict()}


# -- the train state and steps -------------------------------------------------------

@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: dict
  batch_stats: dict
  opt_state: optax.OptState


def learning_rate_schedule(config, steps_per_epoch: int) -> optax.Schedule:
  """Linear warm-up (optional), then cosine from ``learning_rate`` to 0 (Sec. 4.2)."""
  total = int(config.num_epochs) * steps_per_epoch
  warmup = int(config.warmup_epochs) * steps_per_epoch
  cosine = optax.cosine_decay_schedule(float(config.learning_rate), max(total - warmup, 1))
  if warmup == 0:
    return cosine
  ramp = optax.linear_schedule(0.0, float(config.learning_rate), warmup)
  return optax.join_schedules([ramp, cosine], [warmup])


def _kernel_mask(params):
  return jax.tree_util.tree_map_with_path(
      lambda path, x: getattr(path[-1], "key", None) == "kernel" and x.ndim > 1, params)


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """SGD, momentum 0.9, weight decay 5e-4 on kernels, cosine schedule (Sec. 4.2)."""
  return optax.chain(
      optax.add_decayed_weights(float(config.weight_decay), mask=_kernel_mask),
      optax.sgd(learning_rate_schedule(config, steps_per_epoch),
                momentum=float(config.momentum), nesterov=bool(config.nesterov)))


def init_state(model, tx, key, image_shape) -> TrainState:
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  variables = jax.jit(lambda k: model.init(k, x, False))(key)
  params = variables["params"]
  return TrainState(jnp.int32(0), params, variables.get("batch_stats", {}),
                    tx.init(params))


class _Placement:
  """Where arrays live: batches split over every device, the state replicated."""

  def __init__(self):
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("data",))
    self.num_devices = mesh.size
    self.data = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    self.replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  @staticmethod
  def _put(x, sharding):
    if jax.process_count() == 1:
      return jax.device_put(x, sharding)
    x = np.asarray(x)  # every process holds the whole value
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  def batch(self, *arrays):
    return tuple(self._put(x, self.data) for x in arrays)

  def replicate(self, tree):
    return jax.tree_util.tree_map(lambda x: self._put(x, self.replicated), tree)


def _host(x) -> np.ndarray:
  """A replicated (or local) array as numpy, in any number of processes."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return np.asarray(x.addressable_data(0))
  return np.asarray(x)


def make_train_step(model, tx, data_config, key, darts_config=None,
                    steps_per_epoch: int = 1, num_epochs: int = 1) -> Callable:
  """The jitted step ``(state, images, labels) -> (state, metrics)``; donates state.

  For the DARTS evaluation network (``darts_config`` given): the auxiliary
  loss and the linearly rising drop-path probability (module docstring).
  """
  is_darts = isinstance(model, nn_lib.DartsEvalNetwork)
  if is_darts and darts_config is None:
    raise ValueError("the DARTS evaluation network needs config.model.darts")

  def loss_fn(params, batch_stats, x, y, step):
    variables = {"params": params, "batch_stats": batch_stats}
    if not is_darts:
      logits, updated = model.apply(variables, x, True, mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
      return loss, (updated["batch_stats"], logits)
    epoch = (step // steps_per_epoch).astype(jnp.float32)
    drop = float(darts_config.drop_path_prob) * epoch / float(num_epochs)
    (logits, aux), updated = model.apply(
        variables, x, True, drop, mutable=["batch_stats"],
        rngs={"dropout": jax.random.fold_in(jax.random.fold_in(key, step), 1)})
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    if aux is not None:
      loss += float(darts_config.auxiliary_weight) * (
          optax.softmax_cross_entropy_with_integer_labels(aux, y).mean())
    return loss, (updated["batch_stats"], logits)

  def step(state: TrainState, images, labels):
    x = data_lib.augment(jax.random.fold_in(key, state.step), images, data_config)
    (loss, (batch_stats, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.batch_stats, x, labels, state.step)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}
    return TrainState(state.step + 1, params, batch_stats, opt_state), metrics

  return jax.jit(step, donate_argnums=0)


def make_eval_step(model, data_config) -> Callable:
  """The jitted ``(state, images, labels, mask) -> (correct, loss_sum, count)``."""

  def step(state: TrainState, images, labels, mask):
    x = data_lib.preprocess(images, data_config)
    logits = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                         x, False)
    if isinstance(logits, tuple):  # the DARTS network: (logits, aux_logits)
      logits = logits[0]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels) & mask
    return jnp.sum(correct), jnp.sum(jnp.where(mask, loss, 0.0)), jnp.sum(mask)

  return jax.jit(step)


def evaluate(eval_step, state, split, batch_size: int) -> dict:
  """Accuracy (percent) and mean loss over every example of ``split``."""
  totals = np.zeros(3)
  placement = _Placement()
  batch_size = -(-batch_size // placement.num_devices) * placement.num_devices
  for batch in split.batches(batch_size, shuffle=False, remainder="pad"):
    out = eval_step(state, *placement.batch(batch["image"], batch["label"], batch["mask"]))
    totals += np.asarray([float(_host(v)) for v in out])
  correct, loss, count = totals
  return {"eval_accuracy": 100.0 * correct / max(count, 1),
          "eval_loss": loss / max(count, 1), "eval_examples": int(count)}


# -- checkpoints -------------------------------------------------------

class _Checkpoints:
  """orbax: the train state as arrays plus a JSON item (epoch, metrics, config)."""

  def __init__(self, directory: str, max_to_keep: int):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False))

  def latest_epoch(self):
    return self._manager.latest_step()

  def save(self, epoch: int, state: TrainState, meta: dict) -> None:
    self._manager.save(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    self._manager.wait_until_finished()

  def restore(self, epoch: int, like: TrainState):
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
    out = self._manager.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return out.state, out.meta

  def close(self):
    self._manager.close()


# -- the loop --------------------------------------------------------------------------

def train_and_evaluate(config, workdir: str, log: Callable[[str], None] = print,
                       on_step: Callable[[int], None] | None = None) -> dict:
  """Trains (or resumes) the final network of ``config`` in ``workdir``.

  Args:
    config: see :func:`default_config`.
    workdir: checkpoints, ``metrics.jsonl``, ``final_training.json``,
      TensorBoard events.
    log: progress lines.
    on_step: called with the step number after every train step (tests use
      it to interrupt a run).

  Returns:
    ``{"metrics": [one record per epoch], "final": the last record,
    "params": parameter count, "state": the final TrainState, "resumed"}``.
  """
  os.makedirs(workdir, exist_ok=True)
  dataset = data_lib.load(config.data)
  eval_split = dataset.splits.get(config.eval_split)
  if eval_split is None:
    raise ValueError(f"config.eval_split={config.eval_split!r} but the data set has "
                     f"splits {sorted(dataset.splits)}")
  model, model_info = build_model(config.model, dataset.image_shape,
                                  dataset.num_classes, log)
  placement = _Placement()
  if int(config.batch_size) % placement.num_devices:
    raise ValueError(f"config.batch_size={config.batch_size} must divide by the "
                     f"{placement.num_devices} devices it is split over")
  steps_per_epoch = dataset.train.num_batches(int(config.batch_size), "drop")
  if steps_per_epoch == 0:
    raise ValueError(f"config.batch_size={config.batch_size} is larger than the "
                     f"training split ({dataset.train.num_examples} examples)")
  tx = make_optimizer(config, steps_per_epoch)
  schedule = learning_rate_schedule(config, steps_per_epoch)
  base_key = jax.random.key(int(config.seed))
  state = placement.replicate(
      init_state(model, tx, jax.random.fold_in(base_key, 0), dataset.image_shape))
  num_params = nn_lib.count_params({"params": state.params})
  train_step = make_train_step(
      model, tx, config.data, jax.random.fold_in(base_key, 1),
      config.model.get("darts") if config.model.source == "darts_genotype" else None,
      steps_per_epoch, int(config.num_epochs))
  eval_step = make_eval_step(model, config.data)

  current = json.loads(config.to_json_best_effort(sort_keys=True))
  checkpoints = _Checkpoints(os.path.join(workdir, "checkpoints"),
                             int(config.keep_checkpoints))
  metrics, start, resumed = [], 0, False
  latest = checkpoints.latest_epoch()
  if latest is not None:
    state, meta = checkpoints.restore(latest, state)
    state = placement.replicate(state) if jax.process_count() == 1 else state
    differences = io.config_differences(meta["config"], current, RESUMABLE_FIELDS)
    if differences:
      checkpoints.close()
      raise ValueError(f"{workdir!r} holds a training run with another config; use a "
                       f"new workdir or the same config. Differences: "
                       + "; ".join(differences))
    start, metrics, resumed = int(meta["epoch"]), meta["metrics"], True
    log(f"resumed at epoch {start} (step {int(_host(state.step))}) from "
        f"{checkpoints.directory}")
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  primary = jax.process_index() == 0  # one process writes files (orbax: checkpoints)
  if primary:
    io.write_jsonl(metrics_path, metrics)
  board = (io.TensorBoard(os.path.join(workdir, "tensorboard"), log,
                        skip=("epoch", "step"))
           if config.get("tensorboard", False) and primary else None)
  log(f"final training: {num_params:,} parameters, {placement.num_devices} device(s), "
      f"{steps_per_epoch} steps per epoch, "
      f"{config.num_epochs} epochs, {dataset.train.num_examples} training images")

  batch_size = int(config.batch_size)
  try:
    for epoch in range(start, int(config.num_epochs)):
      tick = time.perf_counter()
      epoch_metrics = []
      for batch in dataset.train.batches(batch_size, seed=int(config.data.seed),
                                         epoch=epoch, shuffle=True, remainder="drop"):
        state, step_metrics = train_step(state, *placement.batch(batch["image"],
                                                                 batch["label"]))
        epoch_metrics.append(step_metrics)
        step = epoch * steps_per_epoch + len(epoch_metrics)
        if config.log_every_steps and step % int(config.log_every_steps) == 0:
          log(f"  step {step}: loss {float(_host(step_metrics['loss'])):.4f}")
        if on_step is not None:
          on_step(step)
      stacked = jax.tree_util.tree_map(lambda *x: np.stack([_host(v) for v in x]),
                                       *epoch_metrics)
      train_loss = float(np.mean(stacked["loss"]))
      if not np.all(np.isfinite(stacked["loss"])):
        raise FloatingPointError(f"non-finite training loss in epoch {epoch + 1} "
                                 f"(steps {epoch * steps_per_epoch + 1}.."
                                 f"{(epoch + 1) * steps_per_epoch}); the last good "
                                 f"checkpoint is epoch {epoch}")
      train_s = time.perf_counter() - tick
      step_count = int(_host(state.step))
      record = {"epoch": epoch + 1, "step": step_count,
                "learning_rate": float(schedule(step_count - 1)),
                "train_loss": train_loss,
                "train_accuracy": 100.0 * float(np.mean(stacked["accuracy"]))}
      record.update(evaluate(eval_step, state, eval_split, int(config.eval_batch_size)))
      record["epoch_s"] = time.perf_counter() - tick
      record["train_images_per_s"] = steps_per_epoch * batch_size / max(train_s, 1e-9)
      metrics.append(record)
      checkpoints.save(epoch + 1, state, {"epoch": epoch + 1, "metrics": metrics,
                                          "config": current})
      if primary:
        io.append_jsonl(metrics_path, record)
      if board is not None:
        board.write(step_count, record)
      log(f"epoch {epoch + 1:4d}/{config.num_epochs}: loss {train_loss:.4f}, train acc "
          f"{record['train_accuracy']:6.2f}, {config.eval_split} acc "
          f"{record['eval_accuracy']:6.2f}, lr {record['learning_rate']:.4f}, "
          f"{record['epoch_s']:.1f} s")
  finally:
    checkpoints.close()
  final = metrics[-1] if metrics else None
  if primary:
    io.write_json(os.path.join(workdir, "final_training.json"), {
        "params": num_params, "model": model_info, "final": final,
        "epochs": len(metrics)})
  return {"metrics": metrics, "final": final, "params": num_params, "state": state,
          "resumed": resumed}
