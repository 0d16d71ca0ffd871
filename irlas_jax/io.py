"""Files a run writes, shared by every job and loop (any layer may import this).

* Atomic JSON: a run may be killed at any moment; writing to a temporary
  file and renaming it over the target means a reader sees the old file or
  the new one, never half of one.
* Metrics as JSON lines: rewritten whole from a checkpoint on resume (so no
  record appears twice), then appended one record at a time.
* ``config_differences``: what a resumed run's config changed against the
  one saved in its workdir (fields that only change how a run is watched
  are skipped).
* ``TensorBoard``: scalar records to event files where TensorFlow is
  installed; without it, a one-line notice and nothing else.
"""

from collections.abc import Callable, Iterable
import json
import os
from typing import Any


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2)
    f.write("\n")
  os.replace(tmp, path)


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def write_jsonl(path: str, records: Iterable[dict]) -> None:
  """Writes ``records`` as JSON lines to ``path`` atomically (replacing it)."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    for record in records:
      f.write(json.dumps(record) + "\n")
  os.replace(tmp, path)


def append_jsonl(path: str, record: dict) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def config_differences(saved: dict, current: dict, skip: Iterable[str] = (),
                       prefix: str = "") -> list[str]:
  """``"field: old in the workdir, new now"`` for every differing leaf;
  top-level fields in ``skip`` are ignored."""
  skip = tuple(skip)
  out = []
  for key in sorted(set(saved) | set(current)):
    if not prefix and key in skip:
      continue
    a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += config_differences(a, b, prefix=f"{prefix}{key}.")
    elif a != b:
      out.append(f"{prefix}{key}: {a!r} in the workdir, {b!r} now")
  return out


class TensorBoard:
  """Numeric fields of records as TensorBoard scalars, where TensorFlow is available."""

  def __init__(self, logdir: str, log: Callable[[str], None],
               skip: Iterable[str] = ()):
    self._writer, self._skip = None, set(skip)
    try:
      import tensorboard  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
    except ImportError:
      log("TensorBoard: tensorflow/tensorboard not installed; metrics go to "
          "metrics.jsonl only")
      return
    tf.config.set_visible_devices([], "GPU")  # never take accelerator memory from JAX
    self._tf = tf
    self._writer = tf.summary.create_file_writer(logdir)

  def write(self, step: int, record: dict) -> None:
    if self._writer is None:
      return
    with self._writer.as_default():
      for name, value in record.items():
        if isinstance(value, (int, float)) and name not in self._skip:
          self._tf.summary.scalar(name, float(value), step=step)
    self._writer.flush()
