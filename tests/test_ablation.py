"""The lambda ablation: block-structure counts against hand-worked blocks, and
the whole job end to end in a tiny setting (three real searches)."""

import json

import pytest

from experiments import jobs
from experiments.configs import ablation_lambda
from experiments.jobs import ablation
from irlas_jax.spaces import complex_blocks, experts


@pytest.mark.parametrize("layers,expected", [
    # ResNet: 3 layers, edges 1 + 1 + 2, one output branch, shortcut from the input.
    (experts.layers("resnet"), dict(num_layers=3, edges=4, branches=1,
                                    residual_add=True, input_shortcut=True)),
    # Modification 1: the shortcut starts after a conv: residual, not from the input.
    (experts.layers("resnet_modify1"), dict(num_layers=4, edges=5, branches=1,
                                            residual_add=True, input_shortcut=False)),
    # Shortcut removed.
    (experts.layers("resnet_modify3"), dict(num_layers=2, edges=2, branches=1,
                                            residual_add=False, input_shortcut=False)),
    # Two parallel convs added: an add, but neither input is an ancestor of the other.
    ([("dwconv3x3", 0, 0), ("dwconv5x5", 0, 0), ("add", 2, 1), ("maxpool3x3", 0, 0)],
     dict(num_layers=4, edges=5, branches=2, residual_add=False, input_shortcut=False)),
    # The input through an identity chain still counts as the input.
    ([("identity", 0, 0), ("dwconv3x3", 1, 0), ("add", 2, 1)],
     dict(num_layers=3, edges=4, branches=1, residual_add=True, input_shortcut=True)),
    # add(identity(x), x): both inputs are the input: no residual function.
    ([("identity", 0, 0), ("add", 1, 0)],
     dict(num_layers=2, edges=3, branches=1, residual_add=True, input_shortcut=False)),
    (complex_blocks.layers("nasnet_a_like"), dict(num_layers=18, edges=23, branches=5,
                                                  residual_add=True, input_shortcut=True)),
])
def test_describe_matches_hand_counts(layers, expected):
  assert ablation.describe(layers) == expected


def test_ablation_end_to_end_tiny(tmp_path, capsys):
  config = ablation_lambda.get_config("test")
  assert tuple(ablation_lambda.get_config().lams) == (0.0, 30.0, 60.0)
  assert ablation_lambda.get_config().top_k == 4
  result = jobs.run(config, str(tmp_path))
  out = capsys.readouterr().out
  saved = json.loads((tmp_path / "ablation.json").read_text())
  assert saved["lams"] == [0.0, 30.0, 60.0]
  searched = [r for r in saved["rows"] if r["lam"] is not None]
  assert [(r["lam"], r["rank"]) for r in searched] == [
      (lam, k) for lam in (0.0, 30.0, 60.0) for k in (1, 2)]
  for r in searched:
    assert 0.0 <= r["accuracy"] <= 100.0 and r["latency_ms"] > 0 and r["params"] > 0
    assert r["reward"] == pytest.approx(r["accuracy"] + r["lam"] * r["f_topology"],
                                        rel=1e-5)
    assert r == {**r, **ablation.describe(r["layers"])}
  for lam in ("0", "30", "60"):
    assert (tmp_path / f"lam_{lam}" / "best_blocks.json").exists()
    assert saved["by_lambda"][lam]["blocks"] == 2
  assert (tmp_path / "ablation_blocks.png").stat().st_size > 1000
  assert (tmp_path / "ablation.png").stat().st_size > 1000
  assert "lambda  60" in out and result["rows"][-1]["name"] == "resnet"
