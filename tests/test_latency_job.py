"""The latency job (Table 2): every row, costs against independent counts, the
interleaved statistics against numpy; the complicated blocks as written."""

import json

import numpy as np
import pytest

from experiments import jobs
from experiments.configs import latency as latency_config
from experiments.jobs import latency as latency_job
from irlas_jax import io
from irlas_jax import nn as nn_lib
from irlas_jax.evaluate import latency as latency_lib
from irlas_jax.spaces import complex_blocks, from_layers, validate


def _sinks(layers):
  used = {p for op, p1, p2 in layers for p in (p1, p2)}
  return [t for t in range(1, len(layers) + 1) if t not in used]


def test_complicated_blocks_are_the_cells_as_written():
  nasnet = complex_blocks.layers("nasnet_a_like")
  darts = complex_blocks.layers("darts_like")
  assert len(nasnet) == 18 and len(darts) == 16
  # NASNet-A's five sums are the output; DARTS keeps nodes 2 (via the concat),
  # 3, 4 and 5 (inside the concat).
  assert _sinks(nasnet) == [5, 10, 12, 15, 18]
  assert all(nasnet[t - 1][0] == "add" for t in _sinks(nasnet))
  assert _sinks(darts) == [10, 13, 16]
  assert darts[15] == ("concat", 15, 5)
  # Separable convs are applied twice (chained), as in both papers.
  assert sum(op.startswith("dwconv") for op, _, _ in nasnet) == 10
  assert sum(op.startswith("dwconv") for op, _, _ in darts) == 11
  for name in complex_blocks.names():
    validate(complex_blocks.get(name))
  with pytest.raises(ValueError, match="unknown complicated block 'amoeba'"):
    complex_blocks.layers("amoeba")


def test_summary_statistics_match_numpy():
  times = {"resnet": [[1.0, 2.0], [3.0, 4.0], [2.0, 2.0]],
           "other": [[3.0, 3.0], [9.0, 5.0], [4.0, 8.0]]}
  stats = latency_job.summarize(times, "resnet")
  flat = [3.0, 3.0, 9.0, 5.0, 4.0, 8.0]
  assert stats["other"]["latency_ms"] == pytest.approx(np.median(flat))
  assert stats["other"]["latency_p10_ms"] == pytest.approx(np.percentile(flat, 10))
  # Round medians 3 / 1.5, 7 / 3.5, 6 / 2 -> ratios 2, 2, 3 -> median 2.
  assert stats["other"]["ratio_to_resnet"] == pytest.approx(2.0)
  assert stats["resnet"]["ratio_to_resnet"] == pytest.approx(1.0)
  assert stats["other"]["timed_calls"] == 6


def test_latency_job_has_every_row(tmp_path):
  search_dir = tmp_path / "search"
  search_dir.mkdir()
  io.write_json(str(search_dir / "best_blocks.json"), [
      {"layers": [["dwconv5x5", 0, 0], ["add", 1, 0]], "accuracy": 61.5},
      {"layers": [["maxpool3x3", 0, 0]], "accuracy": 40.0},
      {"layers": [["dwconv1x1", 0, 0]], "accuracy": 30.0}])
  config = latency_config.get_config()
  assert config.batch_size == 16 and config.network == "cifar10"
  config.network = "tiny"
  config.image_size, config.batch_size = 8, 2
  config.warmup, config.rounds, config.calls_per_round = 1, 2, 2
  config.search_workdir, config.top_k = str(search_dir), 2
  config.accuracies = {"resnet": 70.0}
  result = jobs.run(config, str(tmp_path / "out"))
  names = [r["name"] for r in result["rows"]]
  assert names == ["resnet", "resnet_modify1", "resnet_modify2", "resnet_modify3",
                   "searched_1", "searched_2", "nasnet_a_like", "darts_like"]
  saved = json.loads((tmp_path / "out" / "latency.json").read_text())
  assert [r["name"] for r in saved["rows"]] == names
  net = nn_lib.tiny().replace(image_size=8)
  for row in saved["rows"]:
    assert row["timed_calls"] == 4 and row["latency_p10_ms"] <= row["latency_ms"] \
        <= row["latency_p90_ms"]
    assert row["params"] > 0 and row["flops"] > 0
  # Costs against the library's jitted-init path (small blocks: its init
  # compiles slowly for the long ones).
  for row in saved["rows"][:1] + saved["rows"][3:6]:
    block = from_layers([tuple(l) for l in row["layers"]], t_max=len(row["layers"]))
    reference = latency_lib.params_and_flops(block, net, batch_size=2)  # jitted init
    assert row["params"] == reference["params"], row["name"]
    assert row["flops"] == pytest.approx(reference["flops"], rel=1e-6)
  by_name = {r["name"]: r for r in saved["rows"]}
  assert by_name["searched_1"]["accuracy"] == 61.5
  assert by_name["resnet"]["accuracy"] == 70.0 and by_name["darts_like"]["accuracy"] is None
  assert by_name["resnet"]["ratio_to_resnet"] == pytest.approx(1.0)
  assert saved["slowest_complicated"] in ("nasnet_a_like", "darts_like")
  assert (tmp_path / "out" / "latency.png").stat().st_size > 1000
