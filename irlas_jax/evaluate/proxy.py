"""The proxy evaluator: F_accuracy of a batch of blocks (Sec. 4.1).

``ProxyEvaluator(config, t_max)(blocks, key) -> accuracies`` trains each
block's network from scratch (``config.epochs`` epochs of Adam, batch 64,
learning rate 1e-3) and returns validation accuracy in percent. Modes
(``config.mode``):

``static``
    one specialised program per block (:class:`StaticNetwork`, only the
    block's ops); the next block's program is compiled in a background
    thread while the current one trains.
``vmap``
    one program for every block (:class:`DynamicNetwork`) vmapped over an
    architecture batch of ``arch_batch``: ``lax.switch`` becomes a select,
    so every op of every slot is computed.
``map``
    the same program under ``lax.map`` over the architectures: real
    conditionals, one architecture after another on each device.
``auto``
    picks among the three by a cost model measured on this device at the
    first call: compile time and per-step time of each mode (each program
    is timed at 2 and 6 steps; the step count is a runtime argument, so the
    programs timed are the ones then used), then the predicted wall time for
    the batch at the configured budget.

Both dynamic modes shard the architecture axis over ``jax.devices()``
(``jax.sharding``; data replicated); a batch is padded to a multiple of
``arch_batch`` (itself rounded to the device count), so the program never
recompiles. Decisions:

* A block's initial weights and data order come from ``config.seed`` and
  its canonical hash, and static initial weights are the dynamic init mapped
  to the static layout: a block scores the same in every mode and whatever
  else is in its batch (up to float rounding), so the cache is consistent.
  The driver's per-call key is therefore not used.
* Cache: keyed by canonical hash (and this evaluator's config), hits skip
  training; duplicates within a call are trained once.
* Divergence (non-finite loss or weights): accuracy 0 and a warning.
* Several processes (``jax.distributed``, :mod:`irlas_jax.distributed`):
  every process runs the same deterministic search, so every process holds
  the same batch; the batch becomes one global array sharded over the
  devices of every host (``jax.make_array_from_callback``: each process
  provides only its own shards), each host trains its share, and the
  accuracies are all-gathered (``multihost_utils.process_allgather``).
  Only the dynamic modes are sharded: ``static`` is refused and ``auto``
  means ``map`` there (a timed choice could differ between processes).
"""

from __future__ import annotations

from concurrent import futures
import dataclasses
import json
import math
import time

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from irlas_jax import data as data_lib
from irlas_jax.evaluate.training import TrainSettings, make_train_fn
from irlas_jax.nn import DynamicNetwork, StaticNetwork, static_variables_from_dynamic
from irlas_jax.nn import network as network_lib
from irlas_jax.spaces.block import Block, stack_blocks, to_layers
from irlas_jax.spaces.graph import canonical_hash
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet

MODES = ("static", "vmap", "map", "auto")


def default_config() -> ml_collections.ConfigDict:
  """Proxy-evaluator settings (Sec. 4.1 numbers as defaults)."""
  c = ml_collections.ConfigDict()
  c.mode = "auto"
  c.network = "tiny"  # a preset of irlas_jax.nn.network.PRESETS
  c.network_overrides = ml_collections.ConfigDict()  # NetworkConfig fields to change
  c.epochs = 12  # Sec. 4.1
  c.batch_size = 64
  c.learning_rate = 1e-3  # Adam
  c.augment = False
  c.arch_batch = 8  # architectures per dynamic program
  c.seed = 0
  c.data = data_lib.default_config("digits")
  return c


@dataclasses.dataclass
class CostModel:
  """Measured compile and per-step times of one mode (seconds)."""
  compile_s: float
  step_s: float  # per step of one program (a whole arch batch for vmap/map)
  overhead_s: float

  def predict(self, mode: str, num_blocks: int, num_steps: int, arch_batch: int) -> float:
    """Predicted wall time of ``num_blocks`` blocks after calibration.

    Calibration has compiled the dynamic programs (reused from then on) and
    the first block's static program; every further static block pays a
    compile, overlapped with the previous block's training.
    """
    run = self.overhead_s + num_steps * self.step_s
    if mode == "static":
      return run + (num_blocks - 1) * max(run, self.compile_s)
    return math.ceil(num_blocks / arch_batch) * run


def _global_array(x, sharding) -> jax.Array:
  """A global array of ``x``, which every process holds whole."""
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


class ProxyEvaluator:
  """F_accuracy by proxy training; see the module docstring."""

  def __init__(self, config, t_max: int, opset: OpSet = BLOCK_OPS, log=print):
    if config.mode not in MODES:
      raise ValueError(f"config.mode={config.mode!r}; known modes: {', '.join(MODES)}")
    if config.network not in network_lib.PRESETS:
      raise ValueError(f"config.network={config.network!r}; known presets: "
                       f"{', '.join(network_lib.PRESETS)}")
    self.config, self.t_max, self.opset, self.log = config, t_max, opset, log
    dataset = data_lib.load(config.data)
    if dataset.validation is None:
      raise ValueError("the proxy evaluator needs a validation split (config.data)")
    self.images = jnp.asarray(dataset.train.float_images())
    self.labels = jnp.asarray(dataset.train.labels)
    self.val_images = jnp.asarray(dataset.validation.float_images())
    self.val_labels = jnp.asarray(dataset.validation.labels)
    h, w, _ = dataset.image_shape
    self.net_config = network_lib.from_preset(
        config.network, config.get("network_overrides"), num_classes=dataset.num_classes,
        image_size=h)
    data_items = tuple(sorted((k, _hashable(v)) for k, v in config.data.items()))
    self.settings = TrainSettings(
        epochs=int(config.epochs), batch_size=int(config.batch_size),
        learning_rate=float(config.learning_rate), augment=bool(config.augment),
        num_train=int(self.images.shape[0]), num_val=int(self.val_images.shape[0]),
        data=data_items)
    self.num_steps = self.settings.num_steps
    self.dynamic = DynamicNetwork(self.net_config, t_max, opset)
    self._x0 = jnp.zeros((1,) + self.images.shape[1:], jnp.float32)
    self._dynamic_init = jax.jit(lambda key, block: self.initial_variables(key, block))
    self._dynamic_train = make_train_fn(self._dynamic_apply, self.settings)
    devices = jax.devices()
    self.arch_batch = -(-int(config.arch_batch) // len(devices)) * len(devices)
    self.mesh = jax.sharding.Mesh(np.asarray(devices), ("arch",))
    self._programs = {}
    self._pool = futures.ThreadPoolExecutor(max_workers=1)
    self.cache: dict[str, float] = {}
    self.costs: dict[str, CostModel] = {}
    self.chosen_mode: str | None = None if config.mode == "auto" else config.mode
    if jax.process_count() > 1:
      if config.mode == "static":
        raise ValueError("config.mode='static' trains on one device per process; with "
                         "several processes use 'map' or 'vmap' (sharded over all hosts)")
      if config.mode == "auto":
        self.chosen_mode = "map"
        log("evaluator: several processes, mode 'map' (auto timing could differ "
            "between processes)")
    self.fingerprint = json.dumps(json.loads(config.to_json_best_effort()), sort_keys=True)

  # -- networks --------------------------------------------------------------

  def _dynamic_apply(self, variables, x, block, train):
    if train:
      logits, updated = self.dynamic.apply(variables, x, block, True,
                                           mutable=["batch_stats"])
      return logits, updated["batch_stats"]
    return self.dynamic.apply(variables, x, block, False), variables.get("batch_stats", {})

  def initial_variables(self, key, block: Block):
    """The dynamic network's initial variables for ``block`` (traceable)."""
    return self.dynamic.init(key, self._x0, block, False)

  def block_key(self, block_hash: str) -> jax.Array:
    return jax.random.fold_in(jax.random.key(int(self.config.seed)), int(block_hash[:7], 16))

  def _data(self):
    if jax.process_count() == 1:
      return self.images, self.labels, self.val_images, self.val_labels
    if not hasattr(self, "_global_data"):
      replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
      self._global_data = tuple(
          _global_array(x, replicated)
          for x in (self.images, self.labels, self.val_images, self.val_labels))
    return self._global_data

  # -- static mode -----------------------------------------------------------

  def _static_program(self, block: Block):
    """Compiles the static training program of ``block`` (thread-safe)."""
    model = StaticNetwork(to_layers(block), self.net_config, self.opset)

    def apply(variables, x, _block, train):
      if train:
        logits, updated = model.apply(variables, x, True, mutable=["batch_stats"])
        return logits, updated["batch_stats"]
      return model.apply(variables, x, False), variables.get("batch_stats", {})

    train = make_train_fn(apply, self.settings)
    variables = self._static_variables(block, jax.random.key(0))
    args = (jax.random.key(0), None, variables, jnp.int32(1)) + self._data()
    return jax.jit(train, static_argnums=1).lower(*args).compile()

  def _static_variables(self, block: Block, key):
    return static_variables_from_dynamic(block, self._dynamic_init(key, block))

  def _train_static(self, blocks: list[Block], keys, num_steps) -> list[tuple[float, float]]:
    results = []
    pending = self._pool.submit(self._static_program, blocks[0]) if blocks else None
    for i, block in enumerate(blocks):
      program = pending.result()
      if i + 1 < len(blocks):  # overlap: compile the next while this one trains
        pending = self._pool.submit(self._static_program, blocks[i + 1])
      variables = self._static_variables(block, keys[i])
      acc, loss = program(keys[i], variables, jnp.int32(num_steps), *self._data())
      results.append((float(acc), float(loss)))
    return results

  # -- dynamic modes ---------------------------------------------------------

  def _dynamic_program(self, mode: str):
    if mode in self._programs:
      return self._programs[mode]
    def one(key, block, num_steps, *data):
      variables = self.initial_variables(key, block)
      return self._dynamic_train(key, block, variables, num_steps, *data)

    arch_spec = jax.sharding.PartitionSpec("arch")
    replicated_spec = jax.sharding.PartitionSpec()

    def program(keys, blocks, num_steps, *data):
      run = lambda kb: one(kb[0], kb[1], num_steps, *data)
      if mode == "vmap":
        return jax.vmap(lambda k, b: run((k, b)))(keys, blocks)
      # map: each device runs its architectures one after another with
      # lax.map (real conditionals); shard_map, not vmap, splits the batch
      # over devices, since vmap would turn every switch into a select.
      return jax.shard_map(
          lambda ks, bs, n, *d: jax.lax.map(lambda kb: one(kb[0], kb[1], n, *d), (ks, bs)),
          mesh=self.mesh, in_specs=(arch_spec, arch_spec) + (replicated_spec,) * 5,
          out_specs=arch_spec, check_vma=False)(keys, blocks, num_steps, *data)

    arch = jax.sharding.NamedSharding(self.mesh, arch_spec)
    replicated = jax.sharding.NamedSharding(self.mesh, replicated_spec)
    compiled = jax.jit(program, in_shardings=(arch, arch, replicated) + (replicated,) * 4,
                       out_shardings=arch)
    self._programs[mode] = compiled
    return compiled

  def _train_dynamic(self, mode, blocks: list[Block], keys, num_steps):
    program = self._dynamic_program(mode)
    results = []
    for start in range(0, len(blocks), self.arch_batch):
      chunk = blocks[start:start + self.arch_batch]
      chunk_keys = keys[start:start + self.arch_batch]
      pad = self.arch_batch - len(chunk)
      batch = stack_blocks(chunk + [chunk[0]] * pad)
      batch_keys = jnp.stack(list(chunk_keys) + [chunk_keys[0]] * pad)
      if jax.process_count() > 1:  # one global batch over every host's devices
        arch = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("arch"))
        batch = jax.tree_util.tree_map(lambda x: _global_array(x, arch), batch)
        batch_keys = jax.random.wrap_key_data(
            _global_array(jax.random.key_data(batch_keys), arch))
      acc, loss = program(batch_keys, batch, jnp.int32(num_steps), *self._data())
      if jax.process_count() > 1:
        acc = multihost_utils.process_allgather(acc, tiled=True)
        loss = multihost_utils.process_allgather(loss, tiled=True)
      acc, loss = np.asarray(acc), np.asarray(loss)
      results += [(float(acc[i]), float(loss[i])) for i in range(len(chunk))]
    return results

  # -- the cost model --------------------------------------------------------

  def calibrate(self, block: Block, key) -> dict[str, CostModel]:
    """Measures compile and per-step time of every mode on this device."""
    # The dynamic init serves every mode (static weights are mapped from it):
    # compile it first so that its one-off cost is not charged to a mode.
    jax.block_until_ready(self._dynamic_init(key, block))
    for mode in ("static", "vmap", "map"):
      if mode in self.costs:
        continue
      start = time.perf_counter()
      if mode == "static":
        program = self._static_program(block)
        variables = self._static_variables(block, key)
        run = lambda s: program(key, variables, jnp.int32(s), *self._data())
      else:
        program = self._dynamic_program(mode)
        batch = stack_blocks([block] * self.arch_batch)
        keys = jnp.stack([key] * self.arch_batch)
        program = program.lower(keys, batch, jnp.int32(1), *self._data()).compile()
        self._programs[mode] = program
        run = lambda s: program(keys, batch, jnp.int32(s), *self._data())
      compile_s = time.perf_counter() - start
      timings = {}
      for steps in (2, 6):
        jax.block_until_ready(run(steps))  # warm
        tick = time.perf_counter()
        jax.block_until_ready(run(steps))
        timings[steps] = time.perf_counter() - tick
      step_s = max((timings[6] - timings[2]) / 4, 1e-6)
      self.costs[mode] = CostModel(compile_s, step_s, max(timings[2] - 2 * step_s, 0.0))
      self.log(f"evaluator cost model: {mode:6s} compile {compile_s:6.2f} s, "
               f"step {step_s * 1e3:8.2f} ms" + (f" (batch of {self.arch_batch})"
                                                if mode != "static" else ""))
    return self.costs

  def choose_mode(self, num_blocks: int) -> str:
    predictions = {m: c.predict(m, num_blocks, self.num_steps, self.arch_batch)
                   for m, c in self.costs.items()}
    mode = min(predictions, key=predictions.get)
    self.log("evaluator auto mode: " + ", ".join(
        f"{m} {p:.1f} s" for m, p in predictions.items()) + f" -> {mode}")
    return mode

  # -- the interface the search driver calls -----------------------------------

  def __call__(self, blocks: Block, key=None) -> np.ndarray:
    """Validation accuracy (percent) of each block; cached by canonical hash."""
    del key  # see the module docstring: keys come from config.seed and the hash
    if not isinstance(blocks, Block) or len(blocks.batch_shape) != 1:
      raise ValueError("the evaluator takes a batch of blocks with one leading axis")
    if blocks.t_max != self.t_max or blocks.opset != self.opset:
      raise ValueError(f"blocks have t_max {blocks.t_max} and op set {blocks.opset.name!r};"
                       f" this evaluator was built for {self.t_max} and {self.opset.name!r}")
    hashes = canonical_hash(blocks)
    todo = [i for i, h in enumerate(hashes) if h not in self.cache and h not in hashes[:i]]
    if todo:
      chosen = [blocks[i] for i in todo]
      keys = [self.block_key(hashes[i]) for i in todo]
      mode = self.chosen_mode
      if mode is None:
        self.calibrate(chosen[0], keys[0])
        mode = self.chosen_mode = self.choose_mode(len(chosen))
      if mode == "static":
        results = self._train_static(chosen, keys, self.num_steps)
      else:
        results = self._train_dynamic(mode, chosen, keys, self.num_steps)
      for i, (acc, loss) in zip(todo, results):
        if not math.isfinite(acc):
          self.log(f"warning: block {to_layers(blocks[i])} diverged (loss {loss}); "
                   f"accuracy 0")
          acc = 0.0
        self.cache[hashes[i]] = acc
    return np.asarray([self.cache[h] for h in hashes], np.float64)


def _hashable(value):
  if isinstance(value, (list, tuple)):
    return tuple(_hashable(v) for v in value)
  if isinstance(value, ml_collections.ConfigDict):
    return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
  return value
