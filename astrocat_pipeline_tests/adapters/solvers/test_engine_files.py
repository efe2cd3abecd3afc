"""Reading a column of a FITS binary table straight from the file (the engine's match file),
checked against astropy on tables of every kind of column, and on what the engine writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.adapters.solvers import local
from astrocat_pipeline.adapters.solvers.engine_files import FitsTableError, read_column
from astrocat_pipeline_tests.adapters.solvers.test_local import Truth, needs_solver

NUMERIC = {"B": np.uint8, "I": np.int16, "J": np.int32, "K": np.int64, "E": np.float32,
           "D": np.float64}  # fmt: skip


def _mixed_table(path: Path, rows: int, primary_data: bool = False) -> dict[str, np.ndarray]:
    """A table with columns of every type before and between the numeric ones (repeat counts,
    bits, strings, logicals, complex, variable-length arrays), and a primary HDU that may hold
    an image; returns the numeric columns' first elements by name."""
    rng = np.random.default_rng(rows)
    columns = [
        fits.Column(name="NAME", format="13A", array=np.array([f"s{i}" for i in range(rows)])),
        fits.Column(name="FLAGS", format="11X", array=rng.integers(0, 2, (rows, 11)).astype(bool)),
        fits.Column(name="OK", format="L", array=rng.integers(0, 2, rows).astype(bool)),
        fits.Column(name="Z", format="C", array=rng.normal(size=rows) + 1j),
        fits.Column(
            name="VAR",
            format="PJ()",
            array=np.array([np.arange(i % 3 + 1, dtype=np.int32) for i in range(rows)], object),
        ),
    ]
    expected: dict[str, np.ndarray] = {}
    for number, (code, dtype) in enumerate(NUMERIC.items()):
        repeat = 1 + number % 3
        values = (rng.normal(size=(rows, repeat)) * 100).astype(dtype)
        columns.append(fits.Column(name=f"COL{code}", format=f"{repeat}{code}", array=values))
        columns.append(fits.Column(name=f"PAD{code}", format="3A", array=np.array(["x"] * rows)))
        expected[f"COL{code}"] = values[:, 0]
    table = fits.BinTableHDU.from_columns(columns)
    for number in range(60):  # a header longer than one 2,880-byte block
        table.header["HISTORY"] = f"card {number} with a quote '' in it"
    primary = fits.PrimaryHDU(np.ones((7, 5), np.int16) if primary_data else None)
    fits.HDUList([primary, table]).writeto(path)
    return expected


@pytest.mark.parametrize(("rows", "primary_data"), [(1, False), (37, True), (0, False)])
def test_every_numeric_column_reads_as_astropy_reads_it(tmp_path, rows, primary_data):
    path = tmp_path / "table.fits"
    expected = _mixed_table(path, rows, primary_data)
    for name, values in expected.items():
        read = read_column(path, name)
        assert read.dtype == values.dtype
        np.testing.assert_array_equal(read, values)
        astropy = fits.getdata(path, 1)
        if rows:
            column = astropy[name]
            np.testing.assert_array_equal(read, column[:, 0] if column.ndim > 1 else column)


@needs_solver
@pytest.mark.samples
def test_what_the_engine_writes_reads_as_astropy_reads_it(tmp_path, monkeypatch):
    """The match file of a real solve: every numeric column as astropy reads it, and the
    log-odds the solver takes from it."""
    kept = tmp_path / "job.match"
    real = local._log_odds

    def keep(match_file: Path) -> float | None:
        kept.write_bytes(match_file.read_bytes())
        return real(match_file)

    monkeypatch.setattr(local, "_log_odds", keep)
    truth = Truth("m31_3deg")
    solution = local.LocalSolver().solve(truth.path, truth.width_px, truth.height_px, truth.hints())
    assert solution.status == "solved"

    table = fits.getdata(kept, 1)
    numeric = [c.name for c in table.columns if c.format[-1] in NUMERIC]
    assert "LOGODDS" in numeric
    assert len(numeric) > 20
    for name in numeric:
        column = table[name]
        np.testing.assert_array_equal(
            read_column(kept, name), column[:, 0] if column.ndim > 1 else column
        )
    assert local._log_odds(kept) == pytest.approx(float(table["LOGODDS"].max()))
    assert local._log_odds(kept) > 20


def test_what_is_not_such_a_table_says_so(tmp_path):
    path = tmp_path / "table.fits"
    _mixed_table(path, 3)
    with pytest.raises(FitsTableError, match="has no column MISSING"):
        read_column(path, "MISSING")
    with pytest.raises(FitsTableError, match="column NAME of type A is not numeric"):
        read_column(path, "NAME")
    with pytest.raises(FitsTableError, match="HDU 0 is not a binary table"):
        read_column(path, "COLE", extension=0)
    with pytest.raises(FitsTableError, match="ends inside a header"):
        read_column(path, "COLE", extension=2)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(path.read_bytes()[: 2 * 2880 + 100])
    with pytest.raises(FitsTableError):
        read_column(truncated, "COLE")
    text = tmp_path / "text.fits"
    text.write_text("not a FITS file\n" * 400)
    with pytest.raises(FitsTableError):
        read_column(text, "COLE")
    assert local._log_odds(text) is None
    assert local._log_odds(tmp_path / "missing.match") is None
