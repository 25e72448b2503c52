"""Tests of pavlov.analysis.cli: the `pavlov analyze` command, in process."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from pavlov.analysis.cli import register
from pavlov.analysis.errors import TableError


def analyze(*argv):
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    args = parser.parse_args(["analyze", *map(str, argv)])
    return args.func(args)


def test_analyze_logs_writes_every_output(bids_data, tmp_path, capsys):
    """From BIDS logs: the CSVs have the documented columns, figures and report exist."""
    out = tmp_path / "out"
    assert analyze(bids_data, "--out", out, "--models", "rw", "--n-starts", "2") == 0
    assert "3 participants, 60 trials, response rating" in capsys.readouterr().out
    curves = pd.read_csv(out / "curves_by_block.csv", keep_default_na=False)
    assert list(curves.columns) == [
        "group",
        "phase",
        "block",
        "cs_type",
        "n",
        "mean",
        "sem",
        "sem_within",
    ]
    assert list(dict.fromkeys(curves["phase"])) == ["acquisition", "extinction", "recall"]
    assert set(curves["cs_type"]) == {"CS+", "CS-", "diff"}
    per = pd.read_csv(out / "participants_by_block.csv")
    assert list(per.columns) == ["participant", "group", "phase", "block", "cs_type", "mean"]
    indices = pd.read_csv(out / "indices.csv")
    for column in ("rof_index", "extinction_index", "recovery_ratio", "nonlearner", "excluded"):
        assert column in indices.columns
    fits = pd.read_csv(out / "model_fits.csv")
    assert {"participant", "model", "alpha", "loglik", "bic"} <= set(fits.columns)
    assert set(fits["model"]) == {"rw"}
    for name in ("curves.png", "curves.svg", "report.html", "anova.csv", "summaries.csv"):
        assert (out / name).stat().st_size > 0
    html = (out / "report.html").read_text()
    assert "Design (from the logged trials)" in html
    assert "CS duration 6.00 s" in html
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_analyze_table_with_options(youth_table, tmp_path):
    """A trial table with groups and a block size: group rows, group comparison, and the
    acquisition ANOVA over 5 blocks of 2; no model fits when none are asked for."""
    out = tmp_path / "out"
    code = analyze(
        youth_table,
        "--out",
        out,
        "--response-name",
        "scr",
        "--block-size",
        "2",
        "--models",
        "--no-figures",
    )
    assert code == 0
    curves = pd.read_csv(out / "curves_by_block.csv")
    assert set(curves["group"]) == {"Healthy youth", "Anxious youth"}
    assert curves[curves["phase"] == "Conditioning"]["block"].max() == 5
    anova = pd.read_csv(out / "anova.csv")
    acq = anova[(anova["phase"] == "Conditioning") & (anova["sample"] == "all")]
    assert acq.set_index("source").loc["block", "ddof1"] == 4
    assert (out / "group_comparison.csv").exists()
    assert not (out / "model_fits.csv").exists()
    assert not (out / "curves.png").exists()


def test_exclude_reinforced_reports_untestable_phase(youth_table, tmp_path):
    """Without reinforced trials (80 % of acquisition CS+) some blocks have no CS+ for some
    participants: curves shrink in n and the report says why the ANOVA is missing."""
    out = tmp_path / "out"
    analyze(
        youth_table,
        "--out",
        out,
        "--response-name",
        "scr",
        "--block-size",
        "1",
        "--exclude-reinforced",
        "--models",
        "--no-figures",
    )
    curves = pd.read_csv(out / "curves_by_block.csv")
    plus = curves[(curves["phase"] == "Conditioning") & (curves["cs_type"] == "CS+")]
    assert plus["n"].min() < 16  # fewer than the smaller group's 16 participants
    assert "rm-ANOVA for Conditioning not computed" in (out / "report.html").read_text()


def test_bad_table_is_one_line_through_pavlov_main(tmp_path, capsys):
    """Through the top-level CLI a malformed table prints one line and exits 2."""
    from pavlov.task.cli import main

    bad = tmp_path / "t.csv"
    bad.write_text("participant,phase,trial,cs_type,us,response\n1,acq,1,CS+,1,x\n")
    assert main(["analyze", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pavlov: {bad}:2: row 1, column 'response': expected a number, got 'x'"]
    assert not (tmp_path / "o").exists()


def test_errors_raise_before_writing(tmp_path):
    """An empty table raises TableError and leaves no output folder."""
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(TableError):
        analyze(empty, "--out", tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_nan_threshold_is_a_usage_error(capsys, tmp_path):
    """`--us-threshold nan` would silently flag nobody; it is refused in one line."""
    from pavlov.task.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["analyze", str(tmp_path), "--out", str(tmp_path / "out"), "--us-threshold", "nan"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "pavlov analyze: error: argument --us-threshold: expected a number >= 0, got 'nan'"
    )
    assert not (tmp_path / "out").exists()


def test_unknown_drop_first_phase_and_unwritable_out_are_one_line(bids_data, tmp_path):
    """`--drop-first nope` (silently selected nothing) and `--out /proc/x` (an internal
    error) are one-line AnalysisErrors naming the option."""
    from pavlov.analysis.errors import AnalysisError

    with pytest.raises(
        AnalysisError,
        match=r"--drop-first: expected a phase of the data \(.*acquisition.*\), got 'nope'",
    ):
        analyze(bids_data, "--out", tmp_path / "o", "--drop-first", "nope", "--no-figures")
    with pytest.raises(
        AnalysisError, match=r"--drop-first: .*got 'extincton'\. Did you mean 'extinction'\?"
    ):
        analyze(bids_data, "--out", tmp_path / "o", "--drop-first", "extincton", "--no-figures")
    with pytest.raises(AnalysisError, match=r"^--out: cannot create the folder /proc/x/y: "):
        analyze(
            bids_data, "--out", "/proc/x/y", "--models", "rw", "--n-starts", "1", "--no-figures"
        )


def test_mixed_model_is_opt_in(bids_data, tmp_path):
    """The trial-level mixed model is written only with --mixed-model, and then per phase."""
    plain, mixed = tmp_path / "plain", tmp_path / "mixed"
    assert analyze(bids_data, "--out", plain, "--models", "--no-figures") == 0
    assert not (plain / "mixed_model.csv").exists()
    assert "Linear mixed model" not in (plain / "report.html").read_text()
    assert analyze(bids_data, "--out", mixed, "--models", "--no-figures", "--mixed-model") == 0
    table = pd.read_csv(mixed / "mixed_model.csv")
    assert set(table["phase"]) == {"acquisition", "extinction", "recall"}
    assert "Linear mixed model" in (mixed / "report.html").read_text()


def test_participant_figures_only_when_asked(bids_data, tmp_path):
    """By default no per-participant figures; --participant-figures writes one PNG each."""
    plain, each = tmp_path / "plain", tmp_path / "each"
    assert analyze(bids_data, "--out", plain, "--models") == 0
    assert not (plain / "figures").exists()
    assert analyze(bids_data, "--out", each, "--models", "--participant-figures") == 0
    names = sorted(p.name for p in (each / "figures").iterdir())
    assert names == sorted(f"sub-{p}_curves.png" for p in ("1", "2", "10"))
    assert all((each / "figures" / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_every_participant_excluded_still_writes_the_study(tmp_path, capsys):
    """A study whose every participant is excluded (US non-responders: no US response at
    all) is analysed in full; the after-exclusion outputs are empty, not an internal error."""
    rows = []
    for participant in ("01", "02"):
        for trial in range(1, 13):
            cs_type = "CS+" if trial % 2 else "CS-"
            reinforced = cs_type == "CS+" and trial % 4 == 1
            rows.append(
                dict(
                    participant=participant,
                    phase="acquisition",
                    trial=trial,
                    cs_type=cs_type,
                    us=int(reinforced),
                    response=0.5 + 0.01 * trial + (0.3 if cs_type == "CS+" else 0.0),
                    scr=0.5 + 0.01 * trial + (0.3 if cs_type == "CS+" else 0.0),
                    us_scr=0.0 if reinforced else float("nan"),
                )
            )
    table = tmp_path / "study.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    out = tmp_path / "out"
    assert analyze(str(table), "--out", str(out), "--response", "scr", "--models") == 0
    flags = pd.read_csv(out / "exclusion_flags.csv")
    assert flags["excluded"].all()
    kept = pd.read_csv(out / "curves_by_block_after_exclusions.csv")
    assert kept.empty
    assert (out / "report.html").exists()
    assert "0 kept after exclusions" in capsys.readouterr().out


def test_participant_without_a_cs_trial_is_named_not_dropped_silently(bids_data, tmp_path, capsys):
    """A participant whose only log has no CS trial (a run aborted before its first trial)
    is named in the command's summary and the report, not silently left out."""
    (log,) = bids_data.glob("sub-2/ses-day1/beh/*_events.tsv")
    header = log.read_text().splitlines()[0]
    aborted = bids_data / "sub-7" / "ses-day1" / "beh"
    aborted.mkdir(parents=True)
    (aborted / "sub-7_ses-day1_task-fear_run-1_events.tsv").write_text(header + "\n")
    out = tmp_path / "out"
    assert analyze(bids_data, "--out", out, "--models", "--no-figures") == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("3 participants (1 with no CS trial not analysed: 7), ")
    report = (out / "report.html").read_text()
    assert "1 participant(s) with logs but no CS trial are not analysed: 7." in report


def test_empty_codes_is_a_usage_error(bids_data, tmp_path, capsys):
    """`analyze --codes ""` (an unset variable) is one usage line and exit 2."""
    import pytest

    with pytest.raises(SystemExit) as stopped:
        analyze(bids_data, "--out", tmp_path / "out", "--codes", "", "--unblind")
    assert stopped.value.code == 2
    assert "--codes: expected a file, got ''" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
