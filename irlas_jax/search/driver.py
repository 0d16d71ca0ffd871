"""The search driver: propose -> evaluate -> reward -> update -> checkpoint.

One loop serves every strategy (:mod:`irlas_jax.strategies`) and every
evaluator (any function ``(blocks, key) -> accuracies in percent``: the
proxy trainer, a table lookup, a fake in tests):

    for i in iterations:
      blocks, aux = propose(state, key_i)
      F = msf(blocks)                        # F_topology (Eq. 3), vmapped
      acc = evaluator(new blocks only)       # cached by canonical hash
      R = acc + lam * F                      # Eq. 9, term by term in the log
      state = update(state, blocks, R, aux)
      write metrics, checkpoint

Decisions:

* Keys: iteration i uses ``fold_in(key(seed), i)``, split into a proposal
  and an evaluation key; nothing depends on how many iterations ran in this
  process, so a resumed run draws exactly what an unbroken one draws.
* Cache: a block whose canonical hash (isomorphism class) was evaluated
  before is not trained again; duplicates within a batch are trained once.
* A diverged network (the evaluator returns NaN) gets accuracy 0, a
  warning, and the search goes on.
* Checkpoint after every iteration (:mod:`.checkpoint`): the strategy state
  and the key as arrays; the cache, the top-k blocks, the per-iteration
  metrics and the config as JSON. ``metrics.jsonl`` is rewritten from the
  checkpoint on resume, so an iteration that ran after the last checkpoint
  (and is run again) is never logged twice.
* A workdir holding a run with another config is refused (a ValueError
  listing the differing fields), except for fields that only change how a
  run is watched or how long it goes (``RESUMABLE_FIELDS``).
* Metrics also go to TensorBoard event files (``<workdir>/tensorboard``)
  when ``config.tensorboard`` is set and TensorFlow is installed.
* ``F`` may be z-scored under the random policy (``normalize_f``): the mean
  and standard deviation of F over ``sample_uniform`` blocks, so lam means
  the same for every encoding and expert.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax import io
from irlas_jax.irl.analysis import random_f_stats
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.search.checkpoint import SearchCheckpointer
from irlas_jax.search.reward import reward
from irlas_jax.spaces.block import Block, stack_blocks, to_layers
from irlas_jax.spaces.graph import canonical_hash
from irlas_jax import strategies

Evaluator = Callable[[Block, jax.Array], np.ndarray]
CostFn = Callable[[Block], dict]
RESUMABLE_FIELDS = ("num_iterations", "tensorboard", "top_k", "evaluator")


def _search_config_json(config) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def num_iterations(config, strategy_state) -> int:
  if config.get("num_iterations"):
    return int(config.num_iterations)
  settings = getattr(strategy_state, "settings", None)
  if hasattr(settings, "num_iterations"):
    return settings.num_iterations
  raise ValueError("config.num_iterations must be set for this strategy")


def _topology_stats(config, msf: MirrorStimuli) -> tuple[float, float]:
  """(mean, std) that F is z-scored with; (0, 1) when not normalising."""
  if not config.get("normalize_f", False):
    return 0.0, 1.0
  if msf.random_f_mean is not None and msf.random_f_std is not None:
    return msf.random_f_mean, max(msf.random_f_std, 1e-12)
  mean, std = random_f_stats(msf, int(config.get("normalize_samples", 10_000)),
                             jax.random.key(int(config.seed) + 7919))
  return mean, max(std, 1e-12)


class _Top:
  """The k best distinct blocks by reward."""

  def __init__(self, k: int, records=()):
    self.k, self.records = k, list(records)

  def add(self, records):
    seen = {r["hash"] for r in self.records}
    for r in records:
      if r["hash"] not in seen:
        self.records.append(r)
        seen.add(r["hash"])
    self.records.sort(key=lambda r: -r["reward"])
    del self.records[self.k:]


def search(config, workdir: str, evaluator: Evaluator, msf: MirrorStimuli,
           cost_fn: CostFn | None = None, log: Callable[[str], None] = print) -> dict:
  """Runs (or resumes) the search of ``config`` in ``workdir``.

  Args:
    config: search config: ``seed``, ``strategy``, ``space``, ``t_max``,
      ``batch_size``, ``lam``, ``normalize_f``, ``num_iterations`` (None:
      the strategy's schedule), ``top_k``, the strategy's sub-config.
    workdir: where checkpoints, ``metrics.jsonl`` and outputs go.
    evaluator: ``(blocks, key) -> accuracies`` (percent, one per block).
    msf: the mirror stimuli function (F_topology).
    cost_fn: optional ``block -> {"params": .., "flops": ..}`` for the
      best blocks' table.
    log: one line per iteration.

  Returns:
    a summary: the top-k records, the per-iteration metrics, the final
    strategy state and whether the run was resumed.
  """
  os.makedirs(workdir, exist_ok=True)
  strategy = strategies.get(config.strategy)
  base_key = jax.random.key(int(config.seed))
  state = strategy.init(jax.random.fold_in(base_key, 0x5EED), config)
  total = num_iterations(config, state)
  propose = jax.jit(strategy.propose)
  update = jax.jit(strategy.update)
  score = jax.jit(lambda blocks: msf(blocks))
  f_mean, f_std = _topology_stats(config, msf)
  lam = float(config.lam)

  checkpointer = SearchCheckpointer(os.path.join(workdir, "checkpoints"))
  current = _search_config_json(config)
  start, cache, top, metrics, resumed = 0, {}, _Top(int(config.top_k)), [], False
  step = checkpointer.latest_step()
  if step is not None:
    arrays, meta = checkpointer.restore(step, {"strategy": state,
                                               "key": jax.random.key_data(base_key)})
    differences = io.config_differences(meta["config"], current, RESUMABLE_FIELDS)
    if differences:
      raise ValueError(f"{workdir!r} holds a search with another config; use a new "
                       f"workdir or the same config. Differences: " + "; ".join(differences))
    state, start = arrays["strategy"], int(meta["iteration"])
    cache, metrics = meta["cache"], meta["metrics"]
    top = _Top(int(config.top_k), meta["top"])
    resumed = True
    log(f"resumed at iteration {start} from {checkpointer.directory}")
  # With several processes every one runs this same loop (the search is
  # deterministic and the evaluator shares the training over all hosts); only
  # process 0 writes metrics and event files (orbax coordinates checkpoints).
  primary = jax.process_index() == 0
  if primary:
    io.write_jsonl(os.path.join(workdir, "metrics.jsonl"), metrics)
  board = (io.TensorBoard(os.path.join(workdir, "tensorboard"), log, skip=("iteration",))
           if config.get("tensorboard", False) and primary else None)

  for i in range(start, total):
    tick = time.perf_counter()
    key_propose, key_eval = jax.random.split(jax.random.fold_in(base_key, i))
    blocks, aux = propose(state, key_propose)
    f = np.asarray(score(blocks), np.float64)
    f_used = (f - f_mean) / f_std
    hashes = canonical_hash(blocks)
    new = [j for j, h in enumerate(hashes) if h not in cache and h not in hashes[:j]]
    eval_time = 0.0
    if new:
      eval_start = time.perf_counter()
      accuracies = np.asarray(evaluator(stack_blocks([blocks[j] for j in new]), key_eval),
                              np.float64)
      eval_time = time.perf_counter() - eval_start
      for j, a in zip(new, accuracies):
        if not math.isfinite(a):
          log(f"warning: iteration {i}: block {to_layers(blocks[j])} diverged "
              f"(accuracy {a}); scored 0")
          a = 0.0
        cache[hashes[j]] = float(a)
    accuracy = np.asarray([cache[h] for h in hashes])
    rewards = np.asarray(reward(accuracy, f_used, lam))
    state = update(state, blocks, jnp.asarray(rewards, jnp.float32), aux)
    top.add([{"hash": h, "layers": to_layers(blocks[j]), "accuracy": float(accuracy[j]),
              "f_topology": float(f[j]), "reward": float(rewards[j]), "iteration": i}
             for j, h in enumerate(hashes)])
    record = {
        "iteration": i, "epsilon": float(aux["epsilon"]) if isinstance(aux, dict)
        and "epsilon" in aux else None,
        "reward_best": float(rewards.max()), "reward_mean": float(rewards.mean()),
        "accuracy_best": float(accuracy.max()), "accuracy_mean": float(accuracy.mean()),
        "f_best": float(f.max()), "f_mean": float(f.mean()),
        "lam_f_mean": float(lam * f_used.mean()),
        "unique_blocks": len(set(hashes)), "new_blocks": len(new),
        "evaluated_total": len(cache), "evaluator_s": eval_time,
        "iteration_s": time.perf_counter() - tick,
    }
    metrics.append(record)
    checkpointer.save(i + 1, {"strategy": state, "key": jax.random.key_data(base_key)},
                      {"iteration": i + 1, "config": current, "cache": cache,
                       "top": top.records, "metrics": metrics})
    if primary:
      io.append_jsonl(os.path.join(workdir, "metrics.jsonl"), record)
    if board is not None:
      board.write(i + 1, record)
    eps = f" eps {record['epsilon']:.2f}" if record["epsilon"] is not None else ""
    log(f"iteration {i + 1:4d}/{total}{eps}: reward best {record['reward_best']:8.3f} "
        f"mean {record['reward_mean']:8.3f} | acc mean {record['accuracy_mean']:6.2f} | "
        f"F mean {record['f_mean']:7.4f} | {record['new_blocks']:3d} new, "
        f"{record['evaluated_total']} evaluated | {record['iteration_s']:.1f} s")
  checkpointer.close()
  return {"top": top.records, "metrics": metrics, "state": state, "resumed": resumed,
          "f_mean": f_mean, "f_std": f_std}
