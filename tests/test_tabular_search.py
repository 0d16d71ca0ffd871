"""Whole searches on the NAS-Bench-201 table as one program: random search
against its analytic expectation, evolution against random search, vmapped
seeds against a loop, and the strategies' update rules against plain Python."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pandas as pd
import pytest

from irlas_jax import strategies
from irlas_jax.evaluate import tabular
from irlas_jax.search import tabular as tabular_search
from irlas_jax.spaces import nb201
from irlas_jax.strategies import edge_qlearning
from irlas_jax.strategies import evolution

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "..", "shared", "data", "nas-bench-201-mini",
                     "mini-bench-arch-cell-accs.pd")
needs_table = pytest.mark.skipif(not os.path.exists(TABLE),
                                 reason="../shared/data is not beside this checkout")
BATCH = {"random": 8, "evolution": 1, "edge_qlearning": 8}


def _config(name, budget):
  config = ml_collections.ConfigDict()
  config.space = "nb201"
  config.batch_size = BATCH[name]
  config.budget = budget
  config.evolution = evolution.default_config()
  config.evolution.population_size = 10
  config.evolution.sample_size = 3
  config.edge_qlearning = edge_qlearning.default_config()
  return config


@pytest.fixture(scope="module")
def tables():
  table = tabular.load_table(TABLE, ("cifar10-val", "cifar10-test"))
  return tabular_search.make_tables(table.column("cifar10-val"), table.column("cifar10-test"))


@pytest.fixture(scope="module")
def searches():
  return {name: tabular_search.make_batched_search(strategies.get(name), _config(name, 500), 500)
          for name in ("random", "evolution")}


def _expected_best_of_n(val, test, ns):
  """E[test accuracy of the best-validation cell among n uniform draws with
  replacement]; ties in validation accuracy are broken by draw order, so a tied
  group contributes its mean test accuracy."""
  frame = pd.DataFrame({"val": val, "test": test}).groupby("val")["test"].agg(["mean", "size"])
  cdf = np.cumsum(frame["size"].to_numpy()) / len(val)
  cdf_before = np.concatenate([[0.0], cdf[:-1]])
  return [float(np.sum((cdf ** n - cdf_before ** n) * frame["mean"].to_numpy())) for n in ns]


@needs_table
def test_random_search_matches_the_analytic_best_of_n(tables, searches):
  history = jax.device_get(searches["random"](
      jax.random.split(jax.random.key(0), 1000), tables, jnp.float32(0.0)))
  ns = (1, 5, 30, 100, 500)
  expected = _expected_best_of_n(np.asarray(tables.val, np.float64),
                                 np.asarray(tables.test, np.float64), ns)
  for n, want in zip(ns, expected):
    got = history.best_test[:, n - 1]
    half = 3.3 * got.std(ddof=1) / np.sqrt(len(got))  # 99.9%: five checks at once
    assert abs(got.mean() - want) <= half, (n, got.mean(), want, half)
  # Repeats count against the budget: uniform draws with replacement repeat.
  expected_distinct = 15_625 * (1 - (1 - 1 / 15_625) ** 500)
  assert np.mean(history.distinct) == pytest.approx(expected_distinct, abs=1.0)


@needs_table
def test_regularized_evolution_beats_random_search_at_500(tables, searches):
  keys = jax.random.split(jax.random.key(1), 300)
  final = {name: np.asarray(search(keys, tables, jnp.float32(0.0)).best_test[:, -1])
           for name, search in searches.items()}
  diff = final["evolution"].mean() - final["random"].mean()
  half = 1.96 * np.sqrt(final["evolution"].var(ddof=1) / 300 + final["random"].var(ddof=1) / 300)
  assert diff - half > 0, (diff, half)


@needs_table
def test_the_msf_term_steers_evolution(tables, searches):
  # A structured F (number of avg-pool edges) that mutation can climb.
  f = jnp.sum(nb201.decode(jnp.arange(nb201.NUM_CELLS)) == 4, axis=1).astype(jnp.float32)
  steered = tabular_search.make_tables(tables.val, tables.test, f)
  keys = jax.random.split(jax.random.key(2), 300)  # the shape compiled above
  mean_f = {}
  for lam in (0.0, 10.0):
    history = searches["evolution"](keys, steered, jnp.float32(lam))
    mean_f[lam] = float(jnp.mean(steered.f_z[history.codes[:, 100:]]))
    np.testing.assert_allclose(history.reward, history.val + lam * steered.f_z[history.codes],
                               rtol=1e-6, atol=1e-4)
  assert mean_f[10.0] > mean_f[0.0] + 1.0


@pytest.mark.parametrize("name", ["random", "evolution", "edge_qlearning"])
def test_vmapped_seeds_equal_a_loop_of_single_searches(name):
  rng = np.random.default_rng(0)
  tables = tabular_search.make_tables(rng.uniform(10, 90, nb201.NUM_CELLS),
                                      rng.uniform(10, 90, nb201.NUM_CELLS),
                                      rng.normal(size=nb201.NUM_CELLS))
  strategy, config = strategies.get(name), _config(name, 40)
  keys = jax.random.split(jax.random.key(3), 3)
  batched = jax.device_get(tabular_search.make_batched_search(strategy, config, 40)(
      keys, tables, jnp.float32(2.0)))
  single = jax.jit(tabular_search.make_search(strategy, config, 40))
  for i, key in enumerate(keys):
    one = jax.device_get(single(key, tables, jnp.float32(2.0)))
    for field in ("codes", "val", "test", "reward", "best_val", "best_test", "distinct"):
      np.testing.assert_allclose(getattr(batched, field)[i], getattr(one, field), rtol=1e-6,
                                 err_msg=f"{name} seed {i} {field}")
  # best-so-far, against a plain loop
  for i in range(3):
    best_val, best_test = -np.inf, None
    for n in range(40):
      if batched.val[i, n] > best_val:
        best_val, best_test = batched.val[i, n], batched.test[i, n]
      assert batched.best_test[i, n] == best_test
    assert batched.distinct[i] == len(set(batched.codes[i].tolist()))


def test_evolution_replaces_the_oldest_and_mutates_a_tournament_winner():
  config = _config("evolution", 100)
  config.evolution.sample_size = 10  # the tournament sees everyone: parent = the fittest
  state = evolution.init(jax.random.key(0), config)
  propose, update = jax.jit(evolution.propose), jax.jit(evolution.update)
  seen, fitness = [], []
  for i in range(30):
    cells, aux = propose(state, jax.random.key(100 + i))
    if i >= 10:  # population full: a child of the fittest alive entry
      alive = np.asarray(state.fitness)
      parent = np.asarray(state.population)[np.argmax(alive)]
      assert not bool(aux["random"][0])
      assert np.sum(np.asarray(cells[0]) != parent) == 1
    else:
      assert bool(aux["random"][0])
    r = float(np.sin(i * 1.7))
    state = update(state, cells, jnp.asarray([r]), aux)
    seen.append(np.asarray(cells[0]))
    fitness.append(r)
  # Age-based removal: the population is exactly the last 10 proposals.
  assert sorted(map(tuple, np.asarray(state.population))) == sorted(map(tuple, seen[-10:]))
  assert sorted(np.asarray(state.fitness).tolist()) == pytest.approx(sorted(fitness[-10:]))


def test_edge_q_update_matches_plain_python():
  config = _config("edge_qlearning", 64)
  s = edge_qlearning.settings_from_config(config)
  rng = np.random.default_rng(0)
  q0 = rng.normal(size=(6, 5, 5)).astype(np.float32)
  cells = rng.integers(0, 5, (7, 6))
  rewards = rng.uniform(0, 100, 7).astype(np.float32)
  got = np.asarray(edge_qlearning.q_update(jnp.asarray(q0), jnp.asarray(cells, jnp.int32),
                                           jnp.asarray(rewards), s))
  q = q0.astype(np.float64)
  for cell, reward in zip(cells, rewards):
    for e in reversed(range(6)):  # last edge first
      previous = 0 if e == 0 else cell[e - 1]
      target = reward / 6 + (0.0 if e == 5 else 0.9 * q[e + 1, cell[e]].max())
      q[e, previous, cell[e]] = 0.99 * q[e, previous, cell[e]] + 0.01 * target
  np.testing.assert_allclose(got, q, rtol=1e-5, atol=1e-5)


def test_edge_qlearning_schedule_is_blockqnns_fractions_of_the_budget():
  s = edge_qlearning.settings_from_config(_config("edge_qlearning", 500))
  assert s.num_iterations == 63  # 8 cells per iteration
  eps = [float(edge_qlearning.epsilon(s, jnp.int32(i))) for i in range(63)]
  # 95 of 178 parts at epsilon 1: iterations 0..33 (95 / 178 * 63 = 33.6)
  assert eps[:34] == [1.0] * 34 and eps[34] == pytest.approx(0.9)
  assert eps[-1] == pytest.approx(0.1) and sorted(eps, reverse=True) == eps


def test_bad_strategy_settings_are_named():
  config = _config("evolution", 100)
  config.evolution.sample_size = 11
  with pytest.raises(ValueError, match="sample_size"):
    evolution.init(jax.random.key(0), config)
  config = _config("edge_qlearning", 100)
  config.space = "block"
  config.t_max = 4
  with pytest.raises(ValueError, match="cell space"):
    edge_qlearning.init(jax.random.key(0), config)


@needs_table
def test_the_convergence_study_runs_end_to_end(tmp_path, capsys):
  import json
  from experiments import jobs
  from experiments.configs import nb201_convergence
  config = nb201_convergence.get_config("runlocal")
  config.table_path = TABLE
  config.lams = (0.0, 3.0)
  config.num_seeds = 8
  jobs.run(config, str(tmp_path))
  saved = json.loads((tmp_path / "convergence.json").read_text())
  assert set(saved["strategies"]) == {"random", "evolution", "edge_qlearning"}
  for per_lam in saved["strategies"].values():
    assert set(per_lam) == {"0.0", "3.0"}
    curve = per_lam["3.0"]["curve"]
    assert len(curve["mean"]) == 60 and all(
        lo <= m <= hi for lo, m, hi in zip(curve["lo"], curve["mean"], curve["hi"]))
    assert set(per_lam["3.0"]["vs_lambda_0"]) == {"10", "30", "60"}
  # Random search ignores rewards: lambda cannot change it.
  random = saved["strategies"]["random"]
  assert random["0.0"]["curve"]["mean"] == random["3.0"]["curve"]["mean"]
  assert (tmp_path / "convergence.png").stat().st_size > 10_000
  assert (tmp_path / "mirror_stimuli.json").exists()
  assert "n to reach" in capsys.readouterr().out


def test_bad_tabular_inputs_are_named():
  config = _config("random", 10)
  config.space = "block"
  config.t_max = 4
  with pytest.raises(ValueError, match="space 'nb201'"):
    tabular_search.make_search(strategies.get("random"), config, 10)
  with pytest.raises(ValueError, match=r"int\[..., 6\]"):
    tabular.lookup(jnp.zeros(nb201.NUM_CELLS), jnp.zeros((3, 5), jnp.int32))
