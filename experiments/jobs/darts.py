"""The DARTS search with the topology loss: IRLAS-differential (Sec. 3.5, 4.1).

Writes to the workdir:
  mirror_stimuli.json   the MSF used (read from ``config.msf_path``, or fitted
                        here on the space's default expert, seconds)
  metrics.jsonl         one line per epoch: training and validation loss,
                        supernet validation accuracy, expected F under the
                        current alpha (Monte Carlo), the derived genotype and
                        its F, the mean F of the step's K samples, seconds
  genotype.txt          the final derived genotype, DARTS format
  genotype.json         the same, with F and the final softmax(alpha)
  cells/epoch_XXX.png   the derived normal and reduction cells after each epoch
  cells.png             the final ones

The split (DARTS): the training set's pool is halved, class-stratified, one
half training the weights and the other the architecture (the data config's
``validation_fraction = 1 - train_portion``); the supernet's validation
accuracy is measured on that second half. Both halves get the data set's
training augmentation (as DARTS' search does). Evaluation batches drop the
last partial batch (the supernet normalises with batch statistics, so a
padded batch would change the others' outputs).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
from matplotlib.figure import Figure
import ml_collections
import numpy as np

from irlas_jax import data
from irlas_jax import io
from irlas_jax.irl import inverse_rl
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.spaces import darts as darts_space
from irlas_jax.spaces import experts
from irlas_jax.spaces import render
from irlas_jax.strategies import darts as darts_lib


def load_or_fit_msf(config, workdir: str | None = None, log=print) -> MirrorStimuli:
  """The MSF at ``config.msf_path``, or Alg. 1 on the darts space's default expert."""
  if config.msf_path:
    msf = MirrorStimuli.load(config.msf_path, opset=darts_space.DARTS_OPS)
  else:
    irl_config = config.irl.copy_and_resolve_references()
    expert, t_max = experts.space_default(darts_space.DARTS_OPS.name)
    with irl_config.unlocked():
      irl_config.space = darts_space.DARTS_OPS.name
      irl_config.experts = tuple(irl_config.get("experts") or (expert,))
      irl_config.t_max = irl_config.get("t_max") or t_max
    msf, info = inverse_rl.fit(list(irl_config.experts), irl_config, log=None)
    if log:
      log(f"fitted the MSF on {irl_config.experts} ({info['rounds']} rounds, "
          f"{info['wall_time_s']:.1f} s)")
  if workdir:
    msf.save(os.path.join(workdir, "mirror_stimuli.json"))
  return msf


def data_config(config) -> ml_collections.ConfigDict:
  """The data config with DARTS' split (validation = 1 - train_portion of the pool)."""
  dc = config.data.copy_and_resolve_references()
  with dc.unlocked():
    dc.validation_split = None
    dc.validation_fraction = 1.0 - float(config.darts.train_portion)
    dc.batch_size = config.darts.batch_size
  return dc


def draw_cells(genotype, path: str, title: str = "") -> None:
  """The normal and reduction cells side by side (one PNG)."""
  normal, reduce = darts_space.genotype_blocks(genotype)
  fig = Figure(figsize=(12, 6.5), layout="constrained")
  for ax, block, name in zip(fig.subplots(1, 2), (normal, reduce), ("normal", "reduction")):
    render.draw(block, ax=ax, title=f"{title} {name} cell".strip())
  fig.savefig(path, dpi=90)


class Searcher:
  """The compiled pieces of one search setting, reusable across seeds."""

  def __init__(self, config, image_shape, num_classes: int, steps_per_epoch: int,
               msf: MirrorStimuli, grad_fn=None):
    dc = config.darts
    darts_lib.check_config(dc)
    self.config = config
    self.model = darts_lib.make_model(dc, num_classes)
    self.primitives = tuple(dc.primitives)
    total = steps_per_epoch * dc.epochs
    self.weight_tx, self.alpha_tx, schedule = darts_lib.make_optimizers(dc, total)
    self.cell_f = darts_lib.make_cell_f(msf, self.primitives)
    data_cfg = data_config(config)
    augment = lambda key, x: data.augment(key, x, data_cfg)
    # Settings that differ only in the alpha step (order, topology loss)
    # share the compiled supernet: pass another Searcher's grad_fn.
    self.grad_fn = darts_lib.make_grad_fn(self.model) if grad_fn is None else grad_fn
    self.step = darts_lib.make_train_step(self.model, dc, self.weight_tx, self.alpha_tx,
                                          schedule, self.cell_f, augment, self.grad_fn)
    self.evaluate = darts_lib.make_eval_step(self.model)
    self.expected_f = jax.jit(lambda a, k: darts_lib.expected_f(
        a, k, self.cell_f, dc.topology.expected_f_samples))
    self.image_shape = tuple(image_shape)
    self.genotype_f = jax.jit(lambda s: darts_lib.genotype_f(self.cell_f, s))

  def init(self, key):
    x = jnp.zeros((self.config.darts.batch_size,) + self.image_shape, jnp.float32)
    return darts_lib.init_state(key, self.model, self.config.darts, x, self.weight_tx,
                                self.alpha_tx)

  def f_of(self, genotype) -> float:
    return float(self.genotype_f(darts_lib.genotype_arrays(genotype, self.primitives)))


def search(searcher: Searcher, ds, seed: int, workdir: str, log=print) -> list[dict]:
  """Runs the search; returns the per-epoch records (also in metrics.jsonl)."""
  config = searcher.config
  dc = config.darts
  os.makedirs(os.path.join(workdir, "cells"), exist_ok=True)
  key = jax.random.key(seed)
  key, k_init = jax.random.split(key)
  state = searcher.init(k_init)
  data_cfg = data_config(config)
  history = []
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  io.write_jsonl(metrics_path, [])
  step = 0
  for epoch in range(dc.epochs):
    start = time.perf_counter()
    sums = {}
    count = 0
    train_batches = ds.train.batches(dc.batch_size, seed=seed, epoch=epoch)
    val_batches = ds.validation.batches(dc.batch_size, seed=seed + 1, epoch=epoch)
    for train_batch, val_batch in zip(train_batches, val_batches):
      step_key = jax.random.fold_in(key, step)
      state, metrics = searcher.step(
          state, (jnp.asarray(train_batch["image"]), jnp.asarray(train_batch["label"])),
          (jnp.asarray(val_batch["image"]), jnp.asarray(val_batch["label"])), step_key)
      for k, v in metrics.items():
        sums[k] = sums.get(k, 0.0) + v
      count += 1
      step += 1
    means = {k: float(v) / max(count, 1) for k, v in sums.items()}
    if not np.isfinite(means.get("train_loss", 0.0)):
      raise FloatingPointError(f"epoch {epoch + 1}: the supernet's training loss is "
                               f"{means['train_loss']} (diverged)")
    loss_sum, correct, seen = 0.0, 0, 0
    for batch in ds.validation.batches(dc.batch_size, shuffle=False, remainder="drop"):
      images = data.preprocess(jnp.asarray(batch["image"]), data_cfg)
      l, c = searcher.evaluate(state.params, state.alphas, images,
                               jnp.asarray(batch["label"]))
      loss_sum, correct, seen = loss_sum + float(l), correct + int(c), seen + len(batch["label"])
    genotype = darts_lib.derive_genotype(state.alphas, searcher.primitives)
    record = {
        "epoch": epoch + 1, "step": step,
        "train_loss": means.get("train_loss"), "val_loss_steps": means.get("val_loss"),
        "val_loss": loss_sum / max(seen, 1), "val_accuracy": 100.0 * correct / max(seen, 1),
        "expected_f": float(searcher.expected_f(state.alphas, jax.random.fold_in(key, 2**30))),
        "genotype_f": searcher.f_of(genotype),
        "sample_f": means.get("sample_f"), "lr": means.get("lr"),
        "genotype": str(genotype), "seconds": time.perf_counter() - start,
    }
    history.append(record)
    io.append_jsonl(metrics_path, record)
    draw_cells(genotype, os.path.join(workdir, "cells", f"epoch_{epoch + 1:03d}.png"),
               title=f"epoch {epoch + 1}")
    if log:
      log(f"epoch {epoch + 1:3d}/{dc.epochs}: train loss {record['train_loss']:.4f} "
          f"val loss {record['val_loss']:.4f} val acc {record['val_accuracy']:.2f}% "
          f"E[F] {record['expected_f']:.4f} F(genotype) {record['genotype_f']:.4f} "
          f"({record['seconds']:.1f} s)\n  {genotype}")
  genotype = darts_lib.derive_genotype(state.alphas, searcher.primitives)
  with open(os.path.join(workdir, "genotype.txt"), "w") as f:
    f.write(str(genotype) + "\n")
  out = genotype.to_json()
  out.update(f=searcher.f_of(genotype), primitives=list(searcher.primitives),
             softmax_alphas={c: np.asarray(jax.nn.softmax(state.alphas[c], -1)).tolist()
                             for c in darts_lib.CELLS})
  io.write_json(os.path.join(workdir, "genotype.json"), out)
  draw_cells(genotype, os.path.join(workdir, "cells.png"), title="final")
  return history


def load_data(config):
  ds = data.load(data_config(config))
  if ds.validation is None:
    raise ValueError("the DARTS split needs config.darts.train_portion < 1")
  return ds


def run(config, workdir):
  os.makedirs(workdir, exist_ok=True)
  ds = load_data(config)
  print(f"data: {ds}")
  msf = load_or_fit_msf(config, workdir)
  steps = min(ds.train.num_batches(config.darts.batch_size),
              ds.validation.num_batches(config.darts.batch_size))
  searcher = Searcher(config, ds.image_shape, ds.num_classes, steps, msf)
  history = search(searcher, ds, config.seed, workdir)
  print(f"wrote {os.path.join(workdir, 'genotype.txt')}: {history[-1]['genotype']}")
  return history
