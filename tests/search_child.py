"""A tiny deterministic search, run as a subprocess by tests/test_search.py.

  python tests/search_child.py WORKDIR [STRATEGY]

Fake evaluator (a fixed function of the block), a fixed random MSF, t_max 4.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from irlas_jax import features  # noqa: E402
from irlas_jax.irl.mirror_stimuli import MirrorStimuli  # noqa: E402
from irlas_jax.search import search  # noqa: E402
from irlas_jax.spaces import BLOCK_OPS  # noqa: E402
from irlas_jax.strategies import evolution  # noqa: E402
from irlas_jax.strategies import qlearning  # noqa: E402

T_MAX = 4


def tiny_config(strategy="qlearning"):
  q = qlearning.default_config()
  q.schedule = ((3, 1.0), (3, 0.5), (2, 0.1))
  q.updates_per_iteration = 2
  q.replay_batch = 8
  e = evolution.default_config()
  e.population_size = 16
  e.sample_size = 4
  return ml_collections.ConfigDict(dict(
      seed=3, strategy=strategy, space="block", t_max=T_MAX, batch_size=8, lam=30.0,
      normalize_f=False, num_iterations=8 if strategy != "qlearning" else None,
      top_k=4, qlearning=q, evolution=e))


def tiny_msf():
  k = features.feature_dim("relative_depth", BLOCK_OPS, T_MAX)
  return MirrorStimuli(jax.random.normal(jax.random.key(42), (k,)) * 0.1, 0.9,
                       "relative_depth", T_MAX)


def fake_evaluator(blocks, key):
  """Accuracy from the block alone: deterministic, varied, in percent."""
  del key
  op, pred = np.asarray(blocks.op), np.asarray(blocks.pred)
  length = np.asarray(blocks.length)
  score = (op * 7 + pred.sum(-1) * 3) * (np.arange(T_MAX) < length[:, None])
  return 50.0 + 10.0 * np.sin(score.sum(-1) / 5.0)


if __name__ == "__main__":
  workdir = sys.argv[1]
  strategy = sys.argv[2] if len(sys.argv) > 2 else "qlearning"
  summary = search(tiny_config(strategy), workdir, fake_evaluator, tiny_msf(),
                   log=lambda line: print(line, flush=True))
  state = summary["state"]
  np.savez(os.path.join(workdir, "final_state.npz"),
           *[np.asarray(x) for x in jax.tree_util.tree_leaves(state)])
  print("done", flush=True)
