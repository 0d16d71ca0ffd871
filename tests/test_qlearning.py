"""Tests of the tabular Q-learning agent (Sec. 3.4, Eq. 11)."""

import collections

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from irlas_jax.spaces import block as block_lib
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import OpSet, OpSpec, register_opset
from irlas_jax.strategies import qlearning as ql

TINY = register_opset(OpSet("tiny_qlearning", (
    OpSpec("conv", "conv", 3), OpSpec("pool", "pool", 3),
    OpSpec("add", "add", arity=2))))


def _config(t_max=4, batch_size=8, space="tiny_qlearning", **q):
  qconfig = ql.default_config()
  for k, v in q.items():
    setattr(qconfig, k, v)
  return ml_collections.ConfigDict(dict(space=space, t_max=t_max, batch_size=batch_size,
                                        qlearning=qconfig))


# -- an independent reference: Eq. 11 on Python dicts --------------------------

def _layers_valid_after(opset, t, t_max):
  """Layers (op, p1, p2) that may follow t placed layers, by definition."""
  if t >= t_max:
    return []
  node = opset.node(t + 1)
  out = []
  for spec in opset.ops:
    for p1 in range(node):
      if spec.arity == 1:
        out.append((spec.name, p1, 0))
      else:
        out.extend((spec.name, p1, p2) for p2 in range(p1))
  return out


def reference_update(q, trajectories, *, eta, gamma, opset, t_max):
  """Tabular Q-learning (Eq. 11) with shaped rewards R/T, in replay order.

  ``q`` maps (state, action) -> value; a state is "start" or (t, layer), an
  action a layer tuple or "terminate". Each trajectory (list of layer tuples,
  reward) is updated from its terminate transition back to its first layer.
  """
  for layers, reward in trajectories:
    T = len(layers)
    r = reward / T
    states = ["start"] + [(t, layers[t - 1]) for t in range(1, T + 1)]
    # terminate from the last state: no bootstrap.
    key = (states[T], "terminate")
    q[key] = (1 - eta) * q[key] + eta * r
    for t in range(T, 0, -1):
      nxt = states[t]
      actions = [(t + 1, a) for a in _layers_valid_after(opset, t, t_max)]
      best = max([q[(nxt, a[1])] for a in actions] + [q[(nxt, "terminate")]])
      key = (states[t - 1], layers[t - 1])
      q[key] = (1 - eta) * q[key] + eta * (r + gamma * best)
  return q


def test_update_matches_a_plain_python_implementation():
  t_max = 4
  config = _config(t_max=t_max)
  state = ql.init(None, config)
  s = state.settings
  codes = layer_codes(TINY, t_max)
  key = jax.random.key(0)
  # Random starting values, so that every max in Eq. 11 matters.
  state = state.replace(q=jax.random.normal(jax.random.fold_in(key, 2), state.q.shape))
  blocks = block_lib.sample_uniform(jax.random.fold_in(key, 3), 20, t_max, TINY)
  traj_codes = np.asarray(jax.vmap(lambda b: codes.encode(b.op, b.pred))(blocks))
  lengths = np.asarray(blocks.length)
  traj_codes = np.where(np.arange(t_max)[None] < lengths[:, None], traj_codes, -1)
  rewards = np.asarray(jax.random.uniform(jax.random.fold_in(key, 4), (20,))) * 10

  q0 = np.asarray(state.q)  # q[t, code, action]; q[0, 0] is the start state
  layer_of = lambda c: (TINY.names[codes.op[c]], int(codes.pred[c, 0]), int(codes.pred[c, 1]))
  code_of = {layer_of(c): c for c in range(codes.size)}

  class Table(dict):
    def __missing__(self, key):  # initial values, read from the same arrays
      state, action = key
      a = codes.size if action == "terminate" else code_of[action]
      t, c = (0, 0) if state == "start" else (state[0], code_of[state[1]])
      return float(q0[t, c, a])

  trajectories = [([layer_of(c) for c in traj_codes[i, :lengths[i]]], float(rewards[i]))
                  for i in range(20)]
  expected = reference_update(Table(), trajectories, eta=s.learning_rate,
                              gamma=s.discount, opset=TINY, t_max=t_max)
  new = ql.q_update(state, jnp.asarray(traj_codes), jnp.asarray(lengths),
                    jnp.asarray(rewards))
  new_q = np.asarray(new.q)
  assert len(expected) > 20
  changed = 0
  for (st, action), value in expected.items():
    a = codes.size if action == "terminate" else code_of[action]
    t, c = (0, 0) if st == "start" else (st[0], code_of[st[1]])
    got = new_q[t, c, a]
    np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6)
    changed += 1
  # Nothing else moved.
  touched = np.zeros(new_q.shape, bool)
  for st, action in expected:
    t, c = (0, 0) if st == "start" else (st[0], code_of[st[1]])
    touched[t, c, codes.size if action == "terminate" else code_of[action]] = True
  np.testing.assert_array_equal(new_q[~touched], q0[~touched])


def test_epsilon_schedule_is_blockqnn():
  s = ql.init(None, _config()).settings
  assert s.num_iterations == 178
  eps = np.asarray(jax.vmap(lambda i: ql.epsilon(s, i))(jnp.arange(200)))
  np.testing.assert_allclose(eps[[0, 94, 95, 101, 102, 165, 166, 177, 199]],
                             [1.0, 1.0, 0.9, 0.9, 0.8, 0.1 + 0.1, 0.1, 0.1, 0.1], rtol=1e-6)
  assert np.sum(np.isclose(eps[:178], 1.0)) == 95


def test_full_exploration_samples_like_sample_uniform():
  t_max = 4
  state = ql.init(None, _config(t_max=t_max, batch_size=4000))
  blocks, aux = jax.jit(ql.propose)(state, jax.random.key(1))
  assert float(aux["epsilon"]) == 1.0
  block_lib.validate(blocks)
  lengths = np.asarray(blocks.length)
  np.testing.assert_allclose(np.bincount(lengths, minlength=t_max + 1)[1:], 1000, atol=120)
  codes = layer_codes(TINY, t_max)
  second = np.asarray(aux["codes"][:, 1])[lengths >= 2]
  counts = collections.Counter(second.tolist())
  assert set(counts) == set(range(codes.count[2]))  # every valid layer 2 occurs
  expected = len(second) / codes.count[2]
  assert sum((c - expected) ** 2 / expected for c in counts.values()) < 20  # 4 dof


def test_greedy_follows_the_table():
  t_max = 4
  state = ql.init(None, _config(t_max=t_max))
  codes = layer_codes(TINY, t_max)
  pool0 = int(codes.index[TINY.op_id("pool"), 0, 0])
  add10 = int(codes.index[TINY.op_id("add"), 1, 0])
  q = state.q.at[0, 0, pool0].set(1.0)  # start with pool(0)
  q = q.at[1, pool0, add10].set(2.0)  # after pool(0), add(1, 0) is best
  q = q.at[2, add10, codes.size].set(3.0)  # then stop
  state = state.replace(q=q)
  block = ql.greedy_block(state)
  assert block_lib.to_layers(block) == [("pool", 0, 0), ("add", 1, 0)]
  # With epsilon 0 the sampler agrees (no ties here).
  s0 = state.replace(iteration=jnp.int32(10_000))
  settings = s0.settings
  s0 = s0.replace(settings=settings.__class__(**{**settings.__dict__, "schedule": ((1, 0.0),)}))
  blocks, _ = ql.propose(s0, jax.random.key(0))
  for i in range(blocks.batch_shape[0]):
    assert block_lib.to_layers(blocks[i]) == [("pool", 0, 0), ("add", 1, 0)]


def test_replay_memory_is_a_ring_buffer():
  state = ql.init(None, _config(replay_capacity=5, batch_size=3))
  blocks, aux = ql.propose(state, jax.random.key(0))
  for i in range(3):
    state = ql.update(state, blocks, jnp.full((3,), float(i)), aux)
  m = state.memory
  assert int(m.size) == 5 and int(m.next) == 9 % 5
  # Writes: rewards 0 at slots 0-2, 1 at 3, 4, 0, then 2 at 1-3.
  np.testing.assert_array_equal(np.asarray(m.reward), [1.0, 2.0, 2.0, 2.0, 1.0])
  assert int(state.iteration) == 3


def test_bad_schedule_is_a_clear_error():
  with pytest.raises(ValueError, match="schedule must be"):
    ql.init(None, _config(schedule=((10, 1.5),)))


# -- the agent learns from lam * F alone (the search issue's check) -------------

@pytest.fixture(scope="module")
def msf():
  from irlas_jax.irl import fit
  return fit(["resnet"], log=None)[0]


def _run_schedule(msf, shuffle, seed=0):
  """The full BlockQNN schedule (178 x 64 blocks), reward 30 * F."""
  config = ml_collections.ConfigDict(dict(space="block", t_max=24, batch_size=64,
                                          qlearning=ql.default_config()))
  state = ql.init(None, config)

  @jax.jit
  def run(key):
    def iteration(state, key):
      key_propose, key_shuffle = jax.random.split(key)
      blocks, aux = ql.propose(state, key_propose)
      f = msf(blocks)
      rewards = 30.0 * f
      if shuffle:  # rewards no longer belong to their blocks
        rewards = jax.random.permutation(key_shuffle, rewards)
      return ql.update(state, blocks, rewards, aux), (f, aux["epsilon"])
    return jax.lax.scan(iteration, state, jax.random.split(key, 178))

  state, (f, eps) = run(jax.random.key(seed))
  return state, np.asarray(f), np.asarray(eps)


def _learned(f, eps):
  return np.median(f[np.isclose(eps, 0.1)]) > np.percentile(f[np.isclose(eps, 1.0)], 99)


def test_agent_learns_from_the_msf_alone(msf):
  state, f, eps = _run_schedule(msf, shuffle=False)
  assert f.shape == (178, 64) and np.isclose(eps, 1.0).sum() == 95
  assert _learned(f, eps), (np.median(f[np.isclose(eps, 0.1)]),
                            np.percentile(f[np.isclose(eps, 1.0)], 99))
  greedy = ql.greedy_block(state)
  block_lib.validate(greedy)
  assert float(msf(greedy)) > np.percentile(f[np.isclose(eps, 1.0)], 99)


def test_the_same_check_fails_with_shuffled_rewards(msf):
  _, f, eps = _run_schedule(msf, shuffle=True)
  assert not _learned(f, eps)
