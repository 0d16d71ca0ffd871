"""The mirror stimuli function F(m) = w . mu(m) (Sec. 3.3, Eq. 3-4).

``MirrorStimuli`` is a pytree: the weight vector ``w`` is its only array
leaf; the discount, the feature encoding, ``t_max`` and the op set are static
metadata, so a jitted search step that closes over or takes an MSF compiles
once. Calling it on a block or a batch of blocks returns F for each.

It is saved as a small JSON file holding everything needed to rebuild it
(w, gamma, encoding, t_max, op set name, feature names), so a fitted MSF can
be reused by any search in any process. Loading checks the file against what
the caller expects: an MSF fitted for another encoding, ``t_max`` or op set
would score blocks with features it was never fitted on, so that is a
ValueError, not a silent mismatch.
"""

from __future__ import annotations

import json
import os

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from irlas_jax import features
from irlas_jax import io
from irlas_jax.spaces.block import Block
from irlas_jax.spaces.opset import BLOCK_OPS, OpSet, get_opset

FORMAT = "irlas_jax.mirror_stimuli.v1"


@struct.dataclass
class MirrorStimuli:
  """F(m) = w . sum_t gamma^t phi(s_t) (Eq. 4)."""
  w: jax.Array
  gamma: float = struct.field(pytree_node=False, default=features.DEFAULT_GAMMA)
  encoding: str = struct.field(pytree_node=False, default=features.DEFAULT_ENCODING)
  t_max: int = struct.field(pytree_node=False, default=24)
  opset: OpSet = struct.field(pytree_node=False, default=BLOCK_OPS)
  # Mean and std of F under the random policy (for a z-scored reward), when
  # computed (``irl.random_f_stats``); saved with the MSF.
  random_f_mean: float | None = struct.field(pytree_node=False, default=None)
  random_f_std: float | None = struct.field(pytree_node=False, default=None)

  def check_blocks(self, blocks: Block) -> None:
    """Raises ValueError if ``blocks`` are not of this MSF's space."""
    if not isinstance(blocks, Block):
      raise ValueError(f"expected a Block, got {type(blocks).__name__}")
    if blocks.opset != self.opset or blocks.t_max != self.t_max:
      raise ValueError(
          f"this mirror stimuli function was fitted for op set {self.opset.name!r} "
          f"and t_max {self.t_max}; got blocks of op set {blocks.opset.name!r} and "
          f"t_max {blocks.t_max}")

  def feature_count(self, blocks: Block) -> jax.Array:
    """mu of each block under this MSF's encoding and discount (Eq. 2)."""
    self.check_blocks(blocks)
    return features.feature_count(blocks, self.gamma, self.encoding)

  def __call__(self, blocks: Block) -> jax.Array:
    """F of one block (a scalar) or of a batch (one value per block)."""
    return _score(self, blocks)

  # -- persistence -----------------------------------------------------------

  def to_json(self) -> dict:
    return {
        "format": FORMAT,
        "w": np.asarray(self.w, np.float64).tolist(),
        "gamma": float(self.gamma),
        "encoding": self.encoding,
        "t_max": int(self.t_max),
        "opset": self.opset.name,
        "feature_names": features.feature_names(self.encoding, self.opset, self.t_max),
        "random_f_mean": self.random_f_mean, "random_f_std": self.random_f_std,
    }

  def save(self, path: str) -> None:
    """Writes the MSF as JSON (atomically)."""
    io.write_json(path, self.to_json())

  @classmethod
  def from_json(cls, data: dict, *, encoding: str | None = None,
                t_max: int | None = None, opset: OpSet | None = None,
                source: str = "mirror stimuli data") -> "MirrorStimuli":
    if data.get("format") != FORMAT:
      raise ValueError(f"{source} is not a mirror stimuli file (format "
                       f"{data.get('format')!r}, expected {FORMAT!r})")
    expected = {"encoding": encoding, "t_max": t_max,
                "opset": opset.name if opset is not None else None}
    for field, want in expected.items():
      if want is not None and data[field] != want:
        raise ValueError(
            f"{source} was fitted with {field}={data[field]!r}, but the caller's "
            f"config has {field}={want!r}; refit it (the irl job) or change the config")
    space = get_opset(data["opset"])
    w = jnp.asarray(data["w"], jnp.float32)
    dim = features.feature_dim(data["encoding"], space, data["t_max"])
    if w.shape != (dim,):
      raise ValueError(f"{source}: w has {w.shape[0]} entries, expected {dim} for "
                       f"encoding {data['encoding']!r} and t_max {data['t_max']}")
    return cls(w, float(data["gamma"]), data["encoding"], int(data["t_max"]), space,
               data.get("random_f_mean"), data.get("random_f_std"))

  @classmethod
  def load(cls, path: str, *, encoding: str | None = None, t_max: int | None = None,
           opset: OpSet | None = None) -> "MirrorStimuli":
    """Reads an MSF saved by :meth:`save`.

    ``encoding``, ``t_max`` and ``opset``, when given, are what the caller's
    config expects; a file fitted for anything else is a ValueError.
    """
    if not os.path.exists(path):
      raise ValueError(f"no mirror stimuli file at {path!r}; fit one with "
                       f"`python -m experiments.main --config=experiments/configs/irl.py`")
    with open(path) as f:
      data = json.load(f)
    return cls.from_json(data, encoding=encoding, t_max=t_max, opset=opset,
                         source=repr(path))


@jax.jit
def _score(msf: MirrorStimuli, blocks: Block) -> jax.Array:
  return msf.feature_count(blocks) @ msf.w
