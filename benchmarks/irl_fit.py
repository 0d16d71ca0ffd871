"""Benchmark: wall time of Alg. 1 (fitting the MSF on an expert), per encoding.

  python -m benchmarks.irl_fit [--encodings relative_depth,onehot] [--experts]

Each irlas-jax fit runs in a fresh Python process, so its time includes
tracing and XLA compilation (no persistent cache). The baseline, measured in
the same run, is a straightforward NumPy/SciPy Alg. 1: the QP of Eq. 8 by
``scipy.optimize.minimize(method="SLSQP")`` on (w, delta) and the same exact
DP written with NumPy, both sharing irlas-jax's layer-feature table (features
are not what is measured). The paper reports about 3 hours on a CPU for this
step. "Q-learning step" replaces the DP by the search's tabular agent trained on
the reward 30 * w . mu for its whole schedule each round (the paper's RL
step), at most 30 rounds. "second fit" is the same fit again in the same process (compiled
programs reused), the cost of every further fit (other encodings, experts). ``--experts`` adds a table over every expert of the library (for each of
``--expert_encodings``).
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from scipy import optimize

_CHILD = """
import json, sys, time
start = time.perf_counter()
import irlas_jax.strategies  # registers the 'qlearning' RL step
from irlas_jax.irl import inverse_rl, analysis
from irlas_jax.spaces import experts, to_layers
config = inverse_rl.default_config()
config.encoding = sys.argv[1]
config.rl_step = sys.argv[3]
config.max_rounds = int(sys.argv[4])
msf, info = inverse_rl.fit([sys.argv[2]], config, log=None)
total = time.perf_counter() - start
_, again = (inverse_rl.fit([sys.argv[2]], config, log=None) if sys.argv[3] == "dp"
            else (None, info))  # the same fit again, compiled programs reused
best, _ = analysis.optimum(msf)
print(json.dumps({"wall": total, "fit": info["wall_time_s"], "warm": again["wall_time_s"],
                  "rounds": info["rounds"],
                  "bound": info["delta_history"][-1] + info["gap_history"][-1],
                  "terminated": info["terminated"],
                  "optimum_is_expert": to_layers(best) == to_layers(experts.get(sys.argv[2]))}))
"""


def irlas_jax_fit(encoding, expert, rl_step="dp", max_rounds=100):
  out = subprocess.run([sys.executable, "-c", _CHILD, encoding, expert, rl_step,
                        str(max_rounds)], capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def _qp_scipy(mu_star, mus):
  """max delta s.t. w.(mu* - mu_j) >= delta, |w| <= 1, by SLSQP."""
  d = mu_star[None, :] - mus
  k = d.shape[1]
  x0 = np.zeros(k + 1)
  constraints = [
      {"type": "ineq", "fun": lambda x: d @ x[:k] - x[k], "jac": lambda x: np.hstack(
          [d, -np.ones((len(d), 1))])},
      {"type": "ineq", "fun": lambda x: 1.0 - x[:k] @ x[:k],
       "jac": lambda x: np.hstack([-2 * x[:k], 0.0])},
  ]
  res = optimize.minimize(lambda x: -x[k], x0, jac=lambda x: np.eye(k + 1)[k] * -1,
                          constraints=constraints, method="SLSQP",
                          options={"maxiter": 500, "ftol": 1e-10})
  return res.x[:k], res.x[k]


def numpy_fit(encoding, expert, eps=1e-3, max_rounds=100, num_random=10_000):
  """Alg. 1 with SciPy's QP and a NumPy DP: the baseline."""
  import jax  # noqa: F401  (only to reuse the block sampler and feature table)
  from irlas_jax import features
  from irlas_jax.irl import planner
  from irlas_jax.spaces import BLOCK_OPS, experts, sample_uniform
  from irlas_jax.spaces.layers import layer_codes

  start = time.perf_counter()
  gamma, t_max = 0.9, 24
  table = planner.layer_feature_table(BLOCK_OPS, t_max, encoding).astype(np.float64)
  codes = layer_codes(BLOCK_OPS, t_max)
  mu_star = np.asarray(features.feature_count(experts.get(expert), gamma, encoding), np.float64)
  randoms = sample_uniform(jax.random.key(0), num_random, t_max)
  mus = [np.asarray(features.feature_count(randoms, gamma, encoding), np.float64).mean(0)]
  discount = gamma ** np.arange(1, t_max + 1)
  rounds, delta = 0, np.inf
  while rounds < max_rounds:
    rounds += 1
    w, delta = _qp_scipy(mu_star, np.stack(mus))
    if delta <= eps:
      break
    reward = discount[:, None] * (table @ w)
    v_next, best = 0.0, np.zeros(t_max, int)
    after = np.zeros(t_max)
    for t in range(t_max, 0, -1):
      q = reward[t - 1, :codes.count[t]] + max(0.0, v_next)
      best[t - 1] = int(np.argmax(q))
      after[t - 1] = v_next
      v_next = q.max()
    length = 1
    while length < t_max and after[length - 1] > 0:
      length += 1
    m = sum(discount[t] * table[t, best[t]] for t in range(length))
    mus.append(m)
  return {"wall": time.perf_counter() - start, "rounds": rounds, "bound": float(delta),
          "terminated": bool(delta <= eps)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--encodings", default="paper,onehot,onehot_relative,positional,relative_depth")
  parser.add_argument("--experts", action="store_true")
  parser.add_argument("--qlearning_encodings", default="relative_depth",
                      help="encodings also fitted with the Q-learning RL step")
  parser.add_argument("--expert_encodings", default="relative_depth",
                      help="encodings of the --experts table, comma-separated")
  args = parser.parse_args()
  print("\nAlg. 1 on the ResNet expert, t_max 24, eps 1e-3, CPU "
        "(irlas-jax: fresh process, compilation included)")
  print(f"{'encoding':<16} {'implementation':<26} {'wall s':>8} {'rounds':>7} "
        f"{'delta+gap':>10} {'argmax=expert':>14} {'speed-up':>9}")
  for encoding in args.encodings.split(","):
    base = numpy_fit(encoding, "resnet")
    ours = irlas_jax_fit(encoding, "resnet")
    print(f"{encoding:<16} {'numpy+scipy (baseline)':<26} {base['wall']:8.2f} "
          f"{base['rounds']:7d} {base['bound']:10.2e} {'':>14} {1.0:8.1f}x")
    print(f"{'':<16} {'irlas-jax (jit, DP)':<26} {ours['wall']:8.2f} {ours['rounds']:7d} "
          f"{ours['bound']:10.2e} {str(ours['optimum_is_expert']):>14} "
          f"{base['wall'] / ours['wall']:8.1f}x")
    print(f"{'':<16} {'irlas-jax, second fit':<26} {ours['warm']:8.2f} {ours['rounds']:7d} "
          f"{'':>10} {'':>14} {base['wall'] / ours['warm']:8.1f}x")
    if encoding in args.qlearning_encodings.split(","):
      q = irlas_jax_fit(encoding, "resnet", "qlearning", 30)
      print(f"{'':<16} {'irlas-jax (Q-learning step)':<26} {q['wall']:8.2f} "
            f"{q['rounds']:7d} {q['bound']:10.2e} {str(q['optimum_is_expert']):>14} "
            f"{base['wall'] / q['wall']:8.1f}x")
  if args.experts:
    from irlas_jax.spaces import experts
    for encoding in args.expert_encodings.split(","):
      print(f"\nevery expert, encoding {encoding} (fresh process each)")
      print(f"{'expert':<20} {'wall s':>8} {'fit s':>7} {'rounds':>7} {'delta+gap':>10} "
            f"{'argmax=expert':>14}")
      for name in experts.names("block"):
        r = irlas_jax_fit(encoding, name)
        print(f"{name:<20} {r['wall']:8.2f} {r['fit']:7.2f} {r['rounds']:7d} "
              f"{r['bound']:10.2e} {str(r['optimum_is_expert']):>14}")


if __name__ == "__main__":
  main()
