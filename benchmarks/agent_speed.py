"""Benchmark: the Q-learning agent alone, jitted JAX vs a pure-Python agent.

  python -m benchmarks.agent_speed [--seeds 16] [--python_iterations 178]

Both agents run the full BlockQNN schedule (178 iterations of 64 blocks,
16 replayed minibatches of 64 per iteration, eta 0.01, gamma 0.9, R/T
shaping) with reward 30 * F under the MSF fitted on the ResNet expert.
irlas-jax runs the whole schedule as one jitted ``lax.scan``; many seeds are
one ``vmap``. The baseline is a straightforward pure-Python agent with the Q
table in a dict (the way the paper's era of NAS code is written), one seed
after another. Times include compilation. The Python agent at 16 seeds is
16 times its measured single-seed time (independent seeds in a loop), and
is labelled so; ``--python_iterations`` shortens its run, with the time
scaled to the full schedule (also labelled).
"""

import argparse
import collections
import random
import time

import jax
import ml_collections
import numpy as np

from irlas_jax.irl import fit
from irlas_jax.irl.planner import layer_feature_table
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.strategies import qlearning as ql

LAM = 30.0


class PythonAgent:
  """Tabular Q-learning with a dict, same rules as irlas_jax's agent."""

  def __init__(self, codes, t_max, settings, reward_fn, seed):
    self.t_max, self.s, self.reward_fn = t_max, settings, reward_fn
    self.count = [int(c) for c in codes.count] + [0]
    self.q = collections.defaultdict(lambda: settings.q_init)
    self.memory = []
    self.rng = random.Random(seed)
    self.terminate = codes.size

  def actions(self, t):
    acts = list(range(self.count[t + 1]))
    return acts + [self.terminate] if t >= 1 else acts

  def sample(self, eps):
    codes, prev = [], 0
    for t in range(self.t_max):
      state = (t, prev)
      if self.rng.random() < eps:
        if t >= 1 and self.rng.random() * (self.t_max - t + 1) < 1.0:
          a = self.terminate
        else:
          a = self.rng.randrange(self.count[t + 1])
      else:
        acts = self.actions(t)
        values = [self.q[(state, b)] for b in acts]
        best = max(values)
        a = self.rng.choice([b for b, v in zip(acts, values) if v == best])
      if a == self.terminate:
        break
      codes.append(a)
      prev = a
    return codes

  def update(self, trajectories):
    eta, gamma = self.s.learning_rate, self.s.discount
    for codes, reward in trajectories:
      T = len(codes)
      r = reward / T
      states = [(0, 0)] + [(t, codes[t - 1]) for t in range(1, T + 1)]
      key = (states[T], self.terminate)
      self.q[key] = (1 - eta) * self.q[key] + eta * r
      for t in range(T, 0, -1):
        best = max(self.q[(states[t], b)] for b in self.actions(t))
        key = (states[t - 1], codes[t - 1])
        self.q[key] = (1 - eta) * self.q[key] + eta * (r + gamma * best)

  def run(self, iterations):
    for i in range(iterations):
      eps = float(ql.epsilon(self.s, i))
      blocks = [self.sample(eps) for _ in range(self.s.batch_size)]
      self.memory.extend((b, self.reward_fn(b)) for b in blocks)
      for _ in range(self.s.updates_per_iteration):
        self.update([self.memory[self.rng.randrange(len(self.memory))]
                     for _ in range(self.s.replay_batch)])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=16)
  parser.add_argument("--python_iterations", type=int, default=178)
  args = parser.parse_args()
  msf, _ = fit(["resnet"], log=None)
  config = ml_collections.ConfigDict(dict(space="block", t_max=24, batch_size=64,
                                          qlearning=ql.default_config()))
  state0 = ql.init(None, config)
  s = state0.settings
  n_iter = s.num_iterations

  def run(key):
    def iteration(state, key):
      blocks, aux = ql.propose(state, key)
      return ql.update(state, blocks, LAM * msf(blocks), aux), None
    state, _ = jax.lax.scan(iteration, state0, jax.random.split(key, n_iter))
    return state.q

  times = {}
  start = time.perf_counter()
  jax.block_until_ready(jax.jit(run)(jax.random.key(0)))
  times["jax", 1] = time.perf_counter() - start
  start = time.perf_counter()
  jax.block_until_ready(jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(1), args.seeds)))
  times["jax", args.seeds] = time.perf_counter() - start

  # The Python agent scores blocks with the same w, from the layer-feature table.
  table = layer_feature_table(s.opset, s.t_max, msf.encoding) @ np.asarray(msf.w, np.float64)
  discount = msf.gamma ** np.arange(1, s.t_max + 1)
  reward_fn = lambda codes: LAM * float(sum(discount[t] * table[t, c] for t, c in enumerate(codes)))
  agent = PythonAgent(layer_codes(s.opset, s.t_max), s.t_max, s, reward_fn, seed=0)
  start = time.perf_counter()
  agent.run(args.python_iterations)
  measured = time.perf_counter() - start
  scale = n_iter / args.python_iterations
  times["python", 1] = measured * scale
  times["python", args.seeds] = measured * scale * args.seeds

  print(f"\nQ-learning agent, full schedule ({n_iter} iterations x 64 blocks, "
        f"{s.updates_per_iteration} replayed minibatches of 64), reward {LAM:g} * F, "
        f"{jax.devices()[0].platform}")
  print(f"{'implementation':<34} {'seeds':>5} {'wall s':>9} {'speed-up':>9}  note")
  for seeds in (1, args.seeds):
    note = "measured" if seeds == 1 else "16 x the 1-seed time (a loop)"
    if args.python_iterations != n_iter:
      note += f", scaled from {args.python_iterations} iterations"
    base = times["python", seeds]
    print(f"{'pure Python, dict Q (baseline)':<34} {seeds:5d} {base:9.1f} {1.0:8.1f}x  {note}")
    label = "irlas-jax, jit" + (" + vmap over seeds" if seeds > 1 else "")
    print(f"{label:<34} {seeds:5d} {times['jax', seeds]:9.1f} "
          f"{base / times['jax', seeds]:8.1f}x  compile included")


if __name__ == "__main__":
  main()
