"""The expert job: show an expert block, its features and its drawing.

For each name in ``config.experts`` it prints the layer table and the
nonzero entries of the discounted feature count mu (Eq. 2) under
``config.encoding``, draws the block to ``<workdir>/expert_<name>.png`` and
writes everything to ``<workdir>/experts.json``.
"""

import os

import numpy as np

from irlas_jax import features
from irlas_jax import io
from irlas_jax.spaces import experts
from irlas_jax.spaces import render
from irlas_jax.spaces.block import to_layers


def _layer_table(block) -> str:
  lines = [f"  {'t':>3}  {'op':<12} {'pred1':>5} {'pred2':>5}"]
  for t, (name, p1, p2) in enumerate(to_layers(block), start=1):
    arity = block.opset.ops[block.opset.op_id(name)].arity
    lines.append(f"  {t:>3}  {name:<12} {p1:>5} {p2 if arity == 2 else '-':>5}")
  return "\n".join(lines)


def run(config, workdir):
  """Prints and saves the experts of ``config.experts``; returns the summary."""
  names = features.feature_names(config.encoding, experts.get("resnet").opset,
                                 config.t_max)
  summary = {"encoding": config.encoding, "gamma": config.gamma,
             "t_max": config.t_max, "experts": {}}
  for name in config.experts:
    block = experts.get(name, t_max=config.t_max)
    mu = np.asarray(features.feature_count(block, config.gamma, config.encoding))
    png = os.path.join(workdir, f"expert_{name}.png")
    render.draw(block, png, title=name)
    nonzero = {names[i]: round(float(mu[i]), 6) for i in np.flatnonzero(mu)}
    print(f"\nexpert {name!r} ({int(block.length)} layers, t_max {config.t_max})")
    print(_layer_table(block))
    print(f"  feature count mu ({config.encoding}, gamma={config.gamma}, "
          f"k={mu.shape[0]}), nonzero entries:")
    for label, value in nonzero.items():
      print(f"    {label:<24} {value:9.4f}")
    print(f"  drawing: {png}")
    summary["experts"][name] = {"layers": [list(layer) for layer in to_layers(block)],
                                "feature_count": mu.tolist(),
                                "nonzero_features": nonzero, "drawing": png}
  io.write_json(os.path.join(workdir, "experts.json"), summary)
  return summary
