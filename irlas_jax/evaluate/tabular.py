"""Tabular F_accuracy: NAS-Bench-201 accuracies looked up by cell index.

The table is NAS-Bench-201's short-schedule (12-epoch) accuracy of every
cell (``../shared/data/nas-bench-201-mini/mini-bench-arch-cell-accs.pd``, a
pandas pickle with columns ``arch``, ``cellstr`` and accuracy columns such as
``cifar10-val``, ``cifar10-test``). :func:`load_table` reads it once,
parses every cell string, and returns one dense ``float32[15625]`` array per
requested column, indexed by this codebase's cell code
(:func:`irlas_jax.spaces.nb201.encode`), not by the file's row order.
A lookup is then a pure ``jnp`` gather (:func:`lookup`), so an entire search
over the table runs under ``jit`` / ``vmap`` / ``lax.scan``.

Search uses ``cifar10-val`` and reports ``cifar10-test`` (the usual
NAS-Bench-201 protocol: choose by validation, report test), both config
fields. Accuracies stay in percent, as the paper's F_accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import os

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax.spaces import nb201

DEFAULT_PATH = os.path.join("..", "shared", "data", "nas-bench-201-mini",
                            "mini-bench-arch-cell-accs.pd")
ACCURACY_COLUMNS = ("cifar10-test", "cifar10-val", "cifar100-test", "cifar100-val",
                    "imagenet-test", "imagenet-val")


@struct.dataclass
class AccuracyTable:
  """Accuracies (percent) of every NAS-Bench-201 cell, by cell code.

  Attributes:
    accuracy: float32[num_columns, 15625].
    columns: the column names (static).
  """
  accuracy: jax.Array
  columns: tuple[str, ...] = struct.field(pytree_node=False)

  def column(self, name: str) -> jax.Array:
    """``float32[15625]`` accuracies of column ``name``."""
    if name not in self.columns:
      raise ValueError(f"column {name!r} was not loaded; loaded: {', '.join(self.columns)}")
    return self.accuracy[self.columns.index(name)]


def lookup(accuracy: jax.Array, cells: jax.Array) -> jax.Array:
  """Accuracies of ``int32[..., 6]`` cells from a ``[15625]`` column (a gather)."""
  if jnp.shape(cells)[-1:] != (nb201.NUM_EDGES,):
    raise ValueError(f"cells must be int[..., {nb201.NUM_EDGES}] op ids (one per edge), "
                     f"got shape {jnp.shape(cells)}")
  return accuracy[nb201.encode(cells)]


def load_table(path: str = DEFAULT_PATH,
               columns: Sequence[str] = ("cifar10-val", "cifar10-test")) -> AccuracyTable:
  """Reads the accuracy table; see the module docstring.

  Raises:
    ValueError: the file is missing or not a readable pandas pickle, a column
      is unknown, or the rows do not cover every cell exactly once.
  """
  columns = tuple(columns)
  return _load_table(os.path.abspath(path), columns)


@functools.lru_cache(maxsize=8)
def _load_table(path: str, columns: tuple[str, ...]) -> AccuracyTable:
  if not os.path.isfile(path):
    raise ValueError(f"NAS-Bench-201 table not found at {path!r}: pass the path of "
                     f"mini-bench-arch-cell-accs.pd (see ../shared/data/README.md)")
  import pandas as pd  # only this evaluator needs pandas
  try:
    frame = pd.read_pickle(path)
  except Exception as e:  # pickle, zip and pandas raise many types
    raise ValueError(f"cannot read the NAS-Bench-201 table {path!r} as a pandas "
                     f"pickle: {type(e).__name__}: {e}") from None
  if not hasattr(frame, "columns") or "cellstr" not in frame.columns:
    raise ValueError(f"{path!r} is not a NAS-Bench-201 accuracy table: it has no "
                     f"'cellstr' column")
  for name in columns:
    if name not in frame.columns or name == "cellstr":
      known = [c for c in frame.columns if c not in ("arch", "cellstr")]
      raise ValueError(f"unknown accuracy column {name!r} in {path!r}; known: "
                       f"{', '.join(known)}")
  cells = np.stack([nb201.parse(s) for s in frame["cellstr"]])
  codes = np.asarray(nb201.encode(cells))
  if len(codes) != nb201.NUM_CELLS or len(np.unique(codes)) != nb201.NUM_CELLS:
    raise ValueError(f"{path!r} must hold each of the {nb201.NUM_CELLS} cells once; "
                     f"it has {len(codes)} rows and {len(np.unique(codes))} distinct cells")
  accuracy = np.zeros((len(columns), nb201.NUM_CELLS), np.float32)
  for i, name in enumerate(columns):
    values = np.asarray(frame[name], np.float64)
    if not np.all(np.isfinite(values)):
      raise ValueError(f"column {name!r} of {path!r} has non-finite accuracies")
    accuracy[i, codes] = values
  return AccuracyTable(jnp.asarray(accuracy), columns)


def row_of_code(path: str = DEFAULT_PATH) -> np.ndarray:
  """``int[15625]``: the file's ``arch`` value of each cell code."""
  import pandas as pd
  frame = pd.read_pickle(path)
  codes = np.asarray(nb201.encode(np.stack([nb201.parse(s) for s in frame["cellstr"]])))
  rows = np.empty(nb201.NUM_CELLS, np.int64)
  rows[codes] = np.asarray(frame["arch"] if "arch" in frame.columns else frame.index)
  return rows
