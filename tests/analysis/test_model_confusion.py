"""Tests of model recovery (pavlov.analysis.recovery.model_confusion, `pavlov recover
--confusion`): simulate from each model, fit all, count the BIC winners."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pavlov.analysis.fit import FitError
from pavlov.analysis.recovery import model_confusion
from pavlov.protocols import load_protocol
from pavlov.task.cli import main

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "fear_extinction_recall.yaml"


@pytest.fixture(scope="module")
def protocol():
    """The bundled fear-extinction-recall protocol (66 CS trials over two days)."""
    return load_protocol(PROTOCOL)


def test_each_model_wins_mostly_on_its_own_data(protocol):
    """With low rating noise, rw data are mostly won by rw and hybrid data by hybrid; every
    row counts all participants once; the result is deterministic for a seed."""
    matrix = model_confusion(protocol, ("rw", "hybrid"), 20, noise=0.05, seed=0, n_starts=3)
    assert list(matrix.columns) == ["simulated", "rw", "hybrid", "n", "recovered"]
    assert matrix["simulated"].tolist() == ["rw", "hybrid"]
    assert (matrix[["rw", "hybrid"]].sum(axis=1) == matrix["n"]).all()
    assert (matrix["n"] == 20).all()
    recovered = matrix.set_index("simulated")["recovered"]
    assert recovered["rw"] >= 0.6 and recovered["hybrid"] >= 0.8
    assert matrix.attrs["n_trials"] == 66
    again = model_confusion(protocol, ("rw", "hybrid"), 20, noise=0.05, seed=0, n_starts=3)
    pd.testing.assert_frame_equal(matrix, again)


def test_one_model_is_not_a_comparison(protocol):
    """A confusion matrix needs at least two models."""
    with pytest.raises(FitError, match=r"expected at least two models to compare, got \['rw'\]"):
        model_confusion(protocol, ("rw", "rw"), 5)


def test_cli_prints_and_writes_the_matrix(tmp_path, capsys):
    """`pavlov recover --confusion` prints one row per simulated model and writes the CSV."""
    out = tmp_path / "confusion.csv"
    argv = ["recover", str(PROTOCOL), "--confusion", "--models", "rw", "rw2", "--response",
            "scr", "--participants", "6", "--starts", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "model recovery, scr (noise SD 0.4), 6 participants x 66 trials" in printed[0]
    assert printed[2].split() == ["simulated", "rw", "rw2", "recovered"]
    assert [line.split()[0] for line in printed[3:5]] == ["rw", "rw2"]
    table = pd.read_csv(out)
    assert table["simulated"].tolist() == ["rw", "rw2"]
    assert (table["n"] == 6).all()
