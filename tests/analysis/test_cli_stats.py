"""`pavlov analyze` statistics options: fit conventions, mixed models, SCR choices, inference."""

from __future__ import annotations

import pandas as pd
import pytest

from pavlov.task.cli import main


def summed_bic(out):
    fits = pd.read_csv(out / "model_fits.csv")
    return fits.groupby("model")["bic"].sum()


@pytest.mark.parametrize("extra", [[], ["--exclude-reinforced"]])
def test_homan_hybrid_wins_on_unreinforced_scr(homan_table, tmp_path, extra):
    """On Homan 2019 the SCR fits use unreinforced trials by default (and with
    --exclude-reinforced), and the hybrid wins by summed BIC, as published (4,537 vs 4,672)."""
    out = tmp_path / "out"
    args = ["analyze", str(homan_table.path), "--out", str(out), "--response-name", "scr"]
    assert main([*args, "--no-figures", "--models", "rw", "hybrid", *extra]) == 0
    bic = summed_bic(out)
    assert bic["hybrid"] == pytest.approx(4537, abs=5)
    assert bic["rw"] == pytest.approx(4672, abs=5)
    html = (out / "report.html").read_text()
    assert "unreinforced trials&#x27; scr" in html or "unreinforced trials' scr" in html
    assert "summed BIC" in html and "lowest BIC in (participants)" in html


def test_homan_all_trials_make_rw_win(homan_table, tmp_path):
    """--fit-trials all reproduces the contaminated comparison: RW wins (9,949 vs 10,445)."""
    out = tmp_path / "out"
    args = ["analyze", str(homan_table.path), "--out", str(out), "--response-name", "scr"]
    assert main([*args, "--no-figures", "--models", "rw", "hybrid", "--fit-trials", "all"]) == 0
    bic = summed_bic(out)
    assert bic["rw"] == pytest.approx(9949, abs=5)
    assert bic["hybrid"] == pytest.approx(10441, abs=10)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--scr-window", "middle"], "argument --scr-window: expected fir, sir, tir or START,END"),
        (["--scr-window", "4,1"], "argument --scr-window: expected 0 <= START < END seconds"),
        (["--scr-transform", "sqrt,cube"], "argument --scr-transform: expected none or steps"),
        (["--scr-method", "area"], "argument --scr-method: invalid choice: 'area'"),
        (["--fit-trials", "some"], "argument --fit-trials: invalid choice: 'some'"),
        (["--rating-model", "beta"], "argument --rating-model: invalid choice: 'beta'"),
        (["--rating-scale", "0", "ten"], "argument --rating-scale: expected a number"),
    ],
)
def test_bad_option_values_are_usage_errors(option, message, tmp_path, capsys):
    """Each bad value of the new options ends in one error line and exit 2, nothing written."""
    with pytest.raises(SystemExit) as stopped:
        main(["analyze", str(tmp_path), "--out", str(tmp_path / "out"), *option])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"pavlov analyze: error: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--rating-scale", "10", "0"], "--rating-scale: expected LOW < HIGH, got 10 0"),
        (["--rating-scale", "0", "5"], "--rating-scale 0 5: expected every rating inside it"),
        (["--mixed-across", "extinction", "recal"], "Did you mean 'recall'?"),
        (["--mixed-across", "recall"], "--mixed-across: expected 2 or more different phases"),
        (["--scr-method", "baseline", "--scr-window", "sir"], "--scr-window sir: baseline"),
        (["--scr-transform", "us"], "--scr-transform: expected SCR values to transform"),
        (["--mixed-ends", "2"], "--mixed-ends: only used with --mixed-across"),
    ],
)
def test_option_values_the_data_refuse_are_one_line(option, message, bids_data, tmp_path, capsys):
    """Values only the data can judge are refused in one line, exit 2, before any output."""
    out = tmp_path / "out"
    assert main(["analyze", str(bids_data), "--out", str(out), *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_mixed_model_is_opt_in_and_writes_the_documented_columns(bids_data, tmp_path):
    """Without --mixed-model no mixed model runs; with --mixed-across the per-phase and the
    across-phase models are written with the issue's columns."""
    plain = tmp_path / "plain"
    assert main(["analyze", str(bids_data), "--out", str(plain), "--models"]) == 0
    assert not (plain / "mixed_model.csv").exists()
    out = tmp_path / "out"
    args = ["--models", "--mixed-across", "extinction", "recall"]
    assert main(["analyze", str(bids_data), "--out", str(out), *args]) == 0
    table = pd.read_csv(out / "mixed_model.csv")
    for column in (
        "phase",
        "term",
        "estimate",
        "se",
        "df",
        "statistic",
        "p",
        "converged",
        "random_effects",
        "n_participants",
        "n_obs",
    ):
        assert column in table.columns
    assert "extinction+recall" in set(table["phase"])
    assert "cs:phase[recall]" in set(table["term"])
    assert "Satterthwaite" in (out / "report.html").read_text()


def test_small_samples_get_no_p_and_a_warning(bids_data, tmp_path):
    """With 3 participants the index tests and the rm-ANOVA show no p-value, and the report
    warns that n < 10."""
    out = tmp_path / "out"
    assert main(["analyze", str(bids_data), "--out", str(out), "--models"]) == 0
    tests = pd.read_csv(out / "index_tests.csv")
    assert len(tests) and tests["p"].isna().all()
    assert tests["note"].str.contains("< 10").all()
    html = (out / "report.html").read_text()
    assert "fewer than 10 participants" in html


def test_help_documents_the_cs_role_column_and_the_new_options(capsys):
    """`pavlov analyze --help` names the table's optional cs (role) column and the options."""
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "The optional cs column names the CS role" in text
    for option in ("--mixed-model", "--mixed-across", "--fit-trials", "--rating-scale"):
        assert option in text
    for option in ("--scr-method", "--scr-window", "--scr-transform"):
        assert option in text
