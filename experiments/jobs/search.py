"""The IRLAS search job (Sec. 3.4, 4.1): fit or load the MSF, then search.

1. The mirror stimuli function: ``<workdir>/mirror_stimuli.json`` if it is
   there (checked against ``config.irl``'s encoding and t_max), else fitted
   by Alg. 1 on ``config.irl.experts`` and saved (with its random-policy
   statistics for a z-scored reward).
   With ``config.distributed`` set (see :mod:`irlas_jax.distributed`) every
   process runs this job; the MSF fit is deterministic, so each fits the same.
2. The evaluator (``config.evaluator``, :class:`ProxyEvaluator`).
3. The search (:func:`irlas_jax.search.search`): resumes from the workdir's
   checkpoints; writes metrics.jsonl, best_blocks.json, the drawings,
   curves.png and prints the table of the best blocks.
"""

import os

import jax

import irlas_jax.strategies  # noqa: F401  (registers strategies and the RL step)
from experiments.jobs import irl as irl_job
from irlas_jax import distributed
from irlas_jax import io
from irlas_jax.evaluate import latency
from irlas_jax.evaluate.proxy import ProxyEvaluator
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.search import search, write_outputs
from irlas_jax.spaces.opset import get_opset


def load_or_fit_msf(config, workdir, log=print) -> MirrorStimuli:
  path = os.path.join(workdir, "mirror_stimuli.json")
  opset = get_opset(config.space)
  if os.path.exists(path):
    msf = MirrorStimuli.load(path, encoding=config.irl.encoding, t_max=config.t_max,
                             opset=opset)
    log(f"mirror stimuli function loaded from {path}")
    return msf
  if config.irl.t_max != config.t_max or config.irl.space != config.space:
    raise ValueError(f"config.irl.t_max/space ({config.irl.t_max}, {config.irl.space!r}) "
                     f"must equal config.t_max/space ({config.t_max}, {config.space!r})")
  log(f"fitting the mirror stimuli function on {list(config.irl.experts)} (Alg. 1)")
  msf, info, _ = irl_job.fit_and_check(config.irl, log=log)
  if jax.process_index() == 0:
    msf.save(path)
    io.write_json(os.path.join(workdir, "irl_info.json"), info)
  return msf


def run(config, workdir):
  distributed.initialize(config.get("distributed"))
  msf = load_or_fit_msf(config, workdir)
  evaluator = ProxyEvaluator(config.evaluator, config.t_max, get_opset(config.space))
  channels = evaluator.images.shape[-1]
  cost_fn = lambda block: latency.params_and_flops(block, evaluator.net_config,
                                                   channels=channels)
  summary = search(config, workdir, evaluator, msf)
  if jax.process_index() != 0:  # one process writes the outputs
    return None
  rows = write_outputs(workdir, summary, msf, cost_fn=cost_fn)
  print(f"\nwrote {os.path.join(workdir, 'best_blocks.json')}, curves.png, "
        f"best_block_*.png, metrics.jsonl")
  return rows
