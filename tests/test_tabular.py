"""The NAS-Bench-201 accuracy table: loading, lookups under jit, clear errors."""

import os

import jax
import numpy as np
import pandas as pd
import pytest

from irlas_jax.evaluate import tabular
from irlas_jax.spaces import nb201

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "..", "shared", "data", "nas-bench-201-mini",
                     "mini-bench-arch-cell-accs.pd")
needs_table = pytest.mark.skipif(not os.path.exists(TABLE),
                                 reason="../shared/data is not beside this checkout")


@needs_table
def test_row_1601_and_the_resnet_cell():
  frame = pd.read_pickle(TABLE)
  table = tabular.load_table(TABLE, ("cifar10-test", "cifar10-val"))
  readme = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
  assert frame.loc[frame.arch == 1601, "cellstr"].item() == readme
  code = int(nb201.encode(nb201.parse(readme)))
  assert float(table.column("cifar10-test")[code]) == pytest.approx(79.40, abs=1e-4)
  resnet = int(nb201.encode(nb201.parse(nb201.RESNET_CELL)))
  assert tabular.row_of_code(TABLE)[resnet] == 11472
  assert float(table.column("cifar10-test")[resnet]) == pytest.approx(87.95, abs=1e-4)


@needs_table
def test_jitted_lookups_equal_the_file():
  frame = pd.read_pickle(TABLE).set_index("cellstr")
  table = tabular.load_table(TABLE, ("cifar10-val", "cifar100-test"))
  cells = nb201.sample(jax.random.key(0), 200)
  for column in ("cifar10-val", "cifar100-test"):
    got = np.asarray(jax.jit(tabular.lookup)(table.column(column), cells))
    want = [frame.loc[nb201.to_string(c), column] for c in np.asarray(cells)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
  # Every cell whose output node is dead scores chance (10%) on the test set:
  # the parse's semantics and the table agree.
  zero = [c for c in nb201.all_cells() if nb201.to_layers(c) == [("zero", 0, 0)]]
  assert len(zero) == 341
  test = tabular.load_table(TABLE, ("cifar10-test",)).column("cifar10-test")
  np.testing.assert_allclose(tabular.lookup(test, np.stack(zero)), 10.0)


@needs_table
def test_unknown_column_lists_the_known_ones():
  with pytest.raises(ValueError, match="unknown accuracy column 'cifar10-valid'.*cifar10-val"):
    tabular.load_table(TABLE, ("cifar10-valid",))
  table = tabular.load_table(TABLE, ("cifar10-val",))
  with pytest.raises(ValueError, match="column 'cifar10-test' was not loaded"):
    table.column("cifar10-test")


def test_missing_and_unreadable_files_fail_at_once(tmp_path):
  with pytest.raises(ValueError, match="not found"):
    tabular.load_table(str(tmp_path / "absent.pd"))
  garbage = tmp_path / "garbage.pd"
  garbage.write_bytes(b"this is not a pickle")
  with pytest.raises(ValueError, match="cannot read .* as a pandas pickle"):
    tabular.load_table(str(garbage))


def test_a_table_missing_cells_is_refused(tmp_path):
  cells = nb201.all_cells()[:100]
  frame = pd.DataFrame({"arch": np.arange(100),
                        "cellstr": [nb201.to_string(c) for c in cells],
                        "cifar10-val": np.linspace(10, 90, 100)})
  path = tmp_path / "partial.pd"
  frame.to_pickle(path)
  with pytest.raises(ValueError, match="each of the 15625 cells once"):
    tabular.load_table(str(path), ("cifar10-val",))
