"""Checkpoints of a search: orbax for arrays, JSON for the rest.

A search state has two kinds of content: pytrees of arrays (the strategy
state, the PRNG key as raw key data) and plain Python data (the evaluated-
block cache keyed by canonical hash, the history of every block, counters).
orbax's standard handler stores the first; strings, dicts with arbitrary keys
and bare numpy scalars are not pytree leaves it can store, so the second goes
into a JSON item of the same ``ocp.args.Composite`` checkpoint. orbax writes
each step to a temporary directory and renames it when complete, so a run
killed in the middle of a save leaves the previous step intact.

Arrays are saved and restored as host numpy arrays: the search state is
small, and with several processes (``jax.distributed``) every process holds
the same state (the search is deterministic), which orbax then writes once
from the primary process; process-local ``jax.Array``s could not be saved
there at all.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class SearchCheckpointer:
  """Saves and restores ``(arrays, meta)`` pairs, one per iteration."""

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             enable_async_checkpointing=False))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, arrays: Any, meta: dict) -> None:
    """Writes step ``step`` synchronously (it is complete when this returns)."""
    self._manager.save(step, args=ocp.args.Composite(
        arrays=ocp.args.StandardSave(jax.device_get(arrays)), meta=ocp.args.JsonSave(meta)))
    self._manager.wait_until_finished()

  def restore(self, step: int, like: Any) -> tuple[Any, dict]:
    """Restores step ``step``; ``like`` is a pytree with the arrays' structure."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        arrays=ocp.args.StandardRestore(jax.device_get(like)), meta=ocp.args.JsonRestore()))
    return restored.arrays, restored.meta

  def close(self) -> None:
    self._manager.close()
