"""Startle scoring: blink EMG around probes scored to known sizes, flags, T-scores,
potentiation, probe tables, and `pavlov analyze` end to end on logs with probes and EMG."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.errors import AnalysisError, TableError
from pavlov.analysis.physio import Physio
from pavlov.analysis.startle import (
    ITI,
    StartleScoring,
    add_to_trials,
    finish_probes,
    potentiation,
    probe_events,
    read_probe_table,
    score_probes,
    t_scores,
)
from pavlov.task.simulated_physio import blink_emg

RATE = 1000.0


def recording(samples, start=0.0, rate=RATE):
    return Physio(pd.DataFrame({"emg": samples}), rate, start)


def sine_burst(signal, onset, amplitude, *, delay=0.040, length=0.040, frequency=100.0):
    """Add a flat-envelope sine burst (known size) ``delay`` s after ``onset``."""
    at = round(onset * RATE + delay * RATE)
    t = np.arange(round(length * RATE)) / RATE
    signal[at : at + len(t)] += amplitude * np.sin(2 * np.pi * frequency * t + np.pi / 20)


def rectified_mean(amplitude, frequency=100.0):
    """The smoothed rectified level of a sampled sine: its mean |value| over a period."""
    k = np.arange(round(RATE / frequency)) / RATE
    return amplitude * np.abs(np.sin(2 * np.pi * frequency * k + np.pi / 20)).mean()


def test_known_bursts_are_recovered_within_five_percent():
    """Sine bursts of 20-80 µV in 1-µV noise score within 5 % of their rectified size."""
    rng = np.random.default_rng(1)
    signal = rng.normal(0.0, 1.0, int(130 * RATE))
    onsets = np.arange(2.0, 122.0, 3.0)
    amplitudes = np.resize([20.0, 40.0, 80.0], len(onsets))
    for onset, amplitude in zip(onsets, amplitudes):
        sine_burst(signal, onset, amplitude)
    scored = score_probes(recording(signal), onsets)
    ratio = scored["magnitude"].to_numpy() / rectified_mean(amplitudes)
    assert np.all(np.abs(ratio - 1) < 0.05), ratio
    assert scored["response"].all()
    assert (scored["artefact"] == "").all()
    # the peak lies inside the 40-80 ms burst (smoothing widens it by half the 10-ms window)
    assert scored["peak_latency"].between(0.035, 0.085).all()


def test_simulated_blinks_double_at_full_expectation():
    """blink_emg's bursts at expectation 1 are twice those at 0 (potentiation 1.0) ± 12 %."""
    onsets = np.arange(2.0, 242.0, 3.0)
    values = np.resize([0.0, 1.0], len(onsets))
    emg = blink_emg(list(zip(onsets, values)), 0.0, int(250 * RATE), seed=3)
    scored = score_probes(recording(emg), onsets)
    assert scored["response"].all() and (scored["artefact"] == "").all()
    magnitude = scored["magnitude"].to_numpy()
    ratio = magnitude[values == 1].mean() / magnitude[values == 0].mean()
    assert ratio == pytest.approx(2.0, rel=0.12)
    # simulated onsets are 30-50 ms, bursts 80 ms long: peaks within the 20-120 ms window
    assert scored["peak_latency"].between(0.03, 0.12).all()


def test_non_responses_score_zero_and_are_not_artefacts():
    """Probes with no blink (noise alone) are non-responses with magnitude 0."""
    rng = np.random.default_rng(2)
    signal = rng.normal(0.0, 1.0, int(40 * RATE))
    onsets = np.arange(2.0, 38.0, 3.0)
    for onset in onsets[::2]:
        sine_burst(signal, onset, 40.0)
    scored = score_probes(recording(signal), onsets)
    assert scored["response"].tolist() == [True, False] * 6
    assert (scored.loc[1::2, "magnitude"] == 0.0).all()
    assert (scored["artefact"] == "").all()


def test_artefacts_are_flagged_and_missing():
    """An early rise, an active baseline and probes outside the recording or over missing
    samples are flagged with their reason and scored NaN."""
    rng = np.random.default_rng(4)
    signal = rng.normal(0.0, 1.0, int(40 * RATE))
    onsets = np.array([2.0, 5.0, 8.0, 11.0, 14.0, 17.0, 20.0, 23.0, 26.0, 45.0])
    for onset in onsets[:8]:
        sine_burst(signal, onset, 40.0)  # ordinary blinks
    sine_burst(signal, 11.0, 40.0, delay=0.004, length=0.030)  # starts 4 ms after the probe
    sine_burst(signal, 14.0, 30.0, delay=-0.2, length=0.23)  # activity through the baseline
    signal[int(26.05 * RATE)] = np.nan  # a missing sample in the epoch
    scored = score_probes(recording(signal), onsets)
    assert scored["artefact"].tolist() == [
        "", "", "", "early", "baseline", "", "", "", "no data", "no data"
    ]  # fmt: skip
    flagged = scored["artefact"] != ""
    assert scored.loc[flagged, "magnitude"].isna().all()
    assert not scored.loc[flagged, "response"].any()
    assert scored.loc[~flagged, "magnitude"].gt(0).all()


def test_absolute_threshold_turns_small_blinks_into_non_responses():
    """With an absolute threshold above a blink's size, that blink is a non-response."""
    rng = np.random.default_rng(5)
    signal = rng.normal(0.0, 1.0, int(20 * RATE))
    sine_burst(signal, 2.0, 10.0)
    sine_burst(signal, 5.0, 80.0)
    scored = score_probes(recording(signal), [2.0, 5.0], scoring=StartleScoring(threshold=20.0))
    assert scored["response"].tolist() == [False, True]
    assert scored["magnitude"].iloc[0] == 0.0
    assert scored["threshold"].iloc[0] == 20.0


def test_a_rate_too_low_for_the_high_pass_is_refused():
    """EMG at 50 Hz cannot carry a 28-Hz high-pass: one clear error."""
    with pytest.raises(AnalysisError, match="expected EMG sampled above"):
        score_probes(recording(np.zeros(5000), rate=50.0), [10.0])


def test_t_scores_have_mean_50_and_sd_10_within_participant():
    """T-scores are 50 + 10 z within each participant; NaN stays NaN."""
    values = pd.Series([1.0, 2.0, 3.0, np.nan, 10.0, 30.0, 20.0, 0.0])
    people = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    scores = t_scores(values, people)
    assert scores.iloc[:3].tolist() == pytest.approx([40.0, 50.0, 60.0])
    assert np.isnan(scores.iloc[3])
    for _, part in scores.groupby(people):
        assert part.mean() == pytest.approx(50.0)
        assert part.std() == pytest.approx(10.0)


def test_probe_rows_of_a_log_become_probes_in_trials_or_itis():
    """Probe rows with a trial take its role and latency; without one they are ITI probes;
    a GS logged under a CS− role is a GS."""
    events = pd.DataFrame(
        {
            "onset": [10.0, 14.0, 21.0, 26.0, 30.0],
            "duration": [6.0, 0.05, 0.05, 6.0, 0.05],
            "trial_type": ["cs", "probe", "probe", "cs", "probe"],
            "phase": ["acq"] * 5,
            "phase_type": ["acquisition"] * 5,
            "trial": ["1", "1", "", "2", "2"],
            "cs": ["CS+", "CS+", "", "CS-GS2", "CS-GS2"],
            "cs_type": ["CS+", "CS+", "", "CS-", "CS-"],
        },
        index=range(1, 6),
    )
    probes = probe_events(events)
    assert probes["cs"].tolist() == ["CS+", ITI, "CS-GS2"]
    assert probes["cs_type"].tolist() == ["CS+", ITI, "GS"]
    assert probes["probe_latency"].tolist()[0] == 4.0
    assert np.isnan(probes["probe_latency"].iloc[1])
    assert probes["probe_latency"].iloc[2] == 4.0


def test_a_probe_in_a_trial_without_a_cs_row_is_refused():
    """A probe naming a trial that the log does not have is a one-line table error."""
    events = pd.DataFrame(
        {
            "onset": [10.0, 14.0],
            "duration": [6.0, 0.05],
            "trial_type": ["cs", "probe"],
            "phase": ["acq", "acq"],
            "trial": ["1", "7"],
            "cs": ["CS+", "CS+"],
        },
        index=[1, 2],
    )
    with pytest.raises(TableError, match="trial 7"):
        probe_events(events)


def probe_frame():
    """Two participants' probes with known magnitudes: CS+ 3, CS− 2, ITI 1 (person a) and
    CS+ 30, CS− 10, ITI 20 (person b), two of each."""
    rows = []
    for person, sizes in (("a", (3.0, 2.0, 1.0)), ("b", (30.0, 10.0, 20.0))):
        for repeat in range(2):
            for trial, (role, size) in enumerate(zip(("CS+", "CS-", ITI), sizes), start=1):
                rows.append(
                    {
                        "participant": person,
                        "phase": "acq",
                        "trial": np.nan if role == ITI else 2 * repeat + trial,
                        "cs": role,
                        "cs_type": role,
                        "magnitude": size,
                    }
                )
    return finish_probes(pd.DataFrame(rows))


def test_potentiation_is_cs_minus_iti_in_t_scores():
    """Potentiation is CS+ − ITI and CS− − ITI of the T-scores (known values)."""
    table = potentiation(probe_frame()).set_index("participant")
    # person a: magnitudes 3, 2, 1 twice → z = 1.095, 0, -1.095 (sd of [3,2,1,3,2,1] = 0.894)
    z = 1 / np.std([3, 2, 1, 3, 2, 1], ddof=1)
    assert table.loc["a", "potentiation_cs_plus"] == pytest.approx(20 * z)
    assert table.loc["a", "potentiation_cs_minus"] == pytest.approx(10 * z)
    assert table.loc["a", "differential"] == pytest.approx(10 * z)
    # person b: CS+ 30, CS− 10, ITI 20 → CS− is below the ITI (inhibition)
    assert table.loc["b", "potentiation_cs_minus"] < 0 < table.loc["b", "potentiation_cs_plus"]


def test_probe_numbers_count_each_role_within_a_phase():
    """``probe`` is 1, 2 for each role's two probes; ITI trials stay empty."""
    probes = probe_frame()
    assert probes["probe"].tolist()[:6] == [1, 1, 1, 2, 2, 2]
    assert probes.loc[probes["cs"] == ITI, "trial"].isna().all()


def test_trials_get_the_t_score_of_their_probe():
    """add_to_trials puts each trial's probe T-score in ``startle``, NaN where none."""
    probes = probe_frame().assign(session="", run="")
    trials = pd.DataFrame(
        {
            "participant": ["a", "a", "a"],
            "session": "",
            "run": "",
            "phase": "acq",
            "trial": [1, 2, 9],
        }
    )
    out = add_to_trials(trials, probes)
    expected = probes[(probes["participant"] == "a") & (probes["trial"] == 1)]["startle"]
    assert out["startle"].iloc[0] == pytest.approx(expected.iloc[0])
    assert np.isnan(out["startle"].iloc[2])


def test_probe_table_reads_and_t_scores(tmp_path):
    """Another tool's probe table: ITI rows have no trial; magnitudes become T-scores."""
    path = tmp_path / "probes.csv"
    path.write_text(
        "participant,phase,trial,cs,startle\n"
        "1,acq,1,CS+,30\n1,acq,,ITI,10\n1,acq,2,CS-,20\n1,acq,3,GS1,n/a\n"
    )
    probes = read_probe_table(path)
    assert probes["cs_type"].tolist() == ["CS+", ITI, "CS-", "GS"]
    assert probes["startle"].tolist()[:3] == pytest.approx([60.0, 40.0, 50.0])
    assert probes["artefact"].iloc[3] == "missing"


def test_probe_table_with_a_role_but_no_trial_is_refused(tmp_path):
    """A CS role without the trial it falls in names the row and column."""
    path = tmp_path / "probes.csv"
    path.write_text("participant,phase,trial,cs,startle\n1,acq,,CS+,30\n")
    with pytest.raises(TableError, match=r"row 1.*cs"):
        read_probe_table(path)


def png_size(path):
    """Width and height of a PNG from its header."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def probe_study(root, logs, participants=4):
    """Logs with a probe in every CS trial (4 s in) and in every other ITI, and the run's
    blink EMG (and skin conductance) written by the simulator's own writer
    (``write_simulated_physio``: ``_recording-emg_physio.tsv.gz``, channel ``emg``); the
    expectation is 1 in CS+ trials, 0.2 in CS− trials and 0 in ITIs."""
    from types import SimpleNamespace

    from pavlov.task.simulated_physio import TrialResponse, write_simulated_physio

    for number in range(1, participants + 1):
        acquisition = [
            (role, role == "CS+" and i % 2 == 0, 8.0 if role == "CS+" else 2.0)
            for i in range(4)
            for role in ("CS+", "CS-")
        ]
        rows = logs.make_events([("acquisition", "acquisition", acquisition)], seed=number)
        probes, responses = [], []
        for i, row in enumerate(r for r in list(rows) if r["trial_type"] == "cs"):
            value = 1.0 if row["cs"] == "CS+" else 0.2
            us = row["onset"] + 5.5 if row["reinforced"] else None  # make_events' US time
            responses.append(TrialResponse(row["onset"], value, us))
            keys = ("phase", "phase_type", "trial", "cs", "cs_type")
            probe = {"onset": row["onset"] + 4.0, "duration": 0.05, "trial_type": "probe"}
            probes.append(({**probe, **{k: row[k] for k in keys}}, value))
            if i % 2:
                iti = {**probe, "onset": row["onset"] + 11.0, "phase": row["phase"]}
                probes.append((iti, 0.0))
        rows = sorted(rows + [p for p, _ in probes], key=lambda r: r["onset"])
        path = logs.write_log(root, f"{number:02d}", rows)
        paths = SimpleNamespace(events=path, directory=path.parent)
        end = max(r["onset"] for r in rows) + 10.0
        onsets = [(p["onset"], v) for p, v in probes]
        write_simulated_physio(paths, responses, end, seed=number, probes=onsets)
    return root


def run_analyze(root, out, *options):
    """`pavlov analyze ROOT --out OUT --models` (no model fits) as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "analyze", str(root), "--out", str(out),
         "--models", *options],
        env=dict(os.environ, HOME=str(out.parent)),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


def test_analyze_scores_startle_end_to_end(tmp_path, logs):
    """`pavlov analyze` on logs with probes and simulated EMG recordings writes startle.csv,
    curves, potentiation (CS+ above the ITI for everyone), a figure and the report section."""
    root = probe_study(tmp_path / "data", logs)
    out = tmp_path / "out"
    result = run_analyze(root, out)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(out / "startle.csv", keep_default_na=False, na_values=[""])
    assert len(scored) == 4 * 12  # 8 CS probes and 4 ITI probes each
    assert set(scored["cs"]) == {"CS+", "CS-", ITI}
    assert scored["artefact"].isna().all()  # empty: no artefact
    table = pd.read_csv(out / "startle_potentiation.csv")
    assert (table["potentiation_cs_plus"] > 0).all()
    assert (table["differential"] > 0).all()
    curves = pd.read_csv(out / "startle_curves_by_phase.csv", keep_default_na=False)
    means = dict(zip(curves["cs"], curves["mean"].astype(float)))
    assert means["CS+"] > means["CS-"] > means[ITI]
    width, height = png_size(out / "startle.png")
    assert width > 600 and height > 600
    report = (out / "report.html").read_text()
    assert "Fear-potentiated startle" in report and 'src="startle.png"' in report
    assert "Blumenthal et al. 2005" in report


def test_a_named_emg_channel_that_is_missing_is_an_input_error(tmp_path, logs):
    """--emg-channel naming a channel no recording has: one line, exit 2, nothing written."""
    root = probe_study(tmp_path / "data", logs, participants=1)
    out = tmp_path / "out"
    result = run_analyze(root, out, "--emg-channel", "orbicularis")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "pavlov: --emg-channel orbicularis: expected a recording with that channel beside "
        "each run with startle probes, got none for sub-01_ses-1_task-fear_run-1_events.tsv"
    ]
    assert not out.exists()


def test_runs_with_probes_but_no_emg_are_named_in_the_notes(tmp_path, logs):
    """Without an EMG recording the probes are not scored and the report says so."""
    root = probe_study(tmp_path / "data", logs, participants=1)
    for emg in root.rglob("*_recording-emg_physio.*"):
        emg.unlink()
    notes = []
    from pavlov.analysis.startle import load_probes

    assert load_probes(root, notes=notes).empty
    assert notes and "1 run(s) with probes but no EMG recording" in notes[0]


def test_a_trial_tables_startle_column_is_t_scored(tmp_path):
    """A trial table's startle column becomes per-trial T-scores; --response startle gives
    the usual curves of them."""
    import argparse

    from pavlov.analysis.cli import register

    rows = ["participant,phase,trial,cs,us,response,startle"]
    for person, scale in (("1", 1.0), ("2", 10.0)):
        for trial in range(1, 9):
            role = "CS+" if trial % 2 else "CS-"
            size = (3.0 if role == "CS+" else 1.0) * scale
            rows.append(f"{person},acq,{trial},{role},{int(role == 'CS+')},5,{size}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(rows) + "\n")
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    out = tmp_path / "out"
    args = parser.parse_args(
        ["analyze", str(path), "--out", str(out), "--models", "--response", "startle",
         "--no-figures"]
    )  # fmt: skip
    assert args.func(args) == 0
    scored = pd.read_csv(out / "startle.csv")
    # each person: four 3s and four 1s (× scale) → T = 50 ± 10 / (2 / sqrt(8/7) / 2)
    z = 1 / np.std([3, 1] * 4, ddof=1)
    assert scored.groupby("participant")["startle"].max().tolist() == pytest.approx(
        [50 + 10 * z] * 2
    )
    curves = pd.read_csv(out / "curves_by_block.csv")
    diff = curves[curves["cs_type"] == "diff"]["mean"]
    assert diff.tolist() == pytest.approx([20 * z] * 2)
    assert "ITI" in (out / "report.html").read_text()  # the note: no noise-alone probes


def test_startle_figure_draws_role_means_and_potentiation_bars():
    """plot_startle draws each role's mean T-score and bars of the mean potentiation."""
    from pavlov.analysis.figures import plot_startle
    from pavlov.analysis.startle import group_startle, participant_startle

    probes = probe_frame()
    group = group_startle(participant_startle(probes, "block", 2))
    table = potentiation(probes)
    fig = plot_startle(group, table)
    top, bottom = fig.axes
    drawn = {line.get_label(): line.get_ydata().tolist() for line in top.lines}
    expected = group.set_index("cs")["mean"]
    for role in ("CS+", "CS-", ITI):
        assert drawn[role] == pytest.approx([expected[role]])
    heights = [patch.get_height() for patch in bottom.patches]
    assert heights == pytest.approx(
        [
            table["potentiation_cs_plus"].mean(),
            table["potentiation_cs_minus"].mean(),
            table["differential"].mean(),
        ]
    )


def test_the_emg_channel_is_found_in_any_recording_beside_the_log(tmp_path, logs):
    """An EMG column in another recording (as `pavlov physio import` writes channels of one
    rate together) is found from the sidecars; recording-emg comes first; a named channel
    is looked up as given."""
    from pavlov.analysis.load import find_logs
    from pavlov.analysis.physio import write_physio
    from pavlov.analysis.startle import find_emg

    path = logs.write_log(tmp_path / "data", "1", logs.make_events(logs.design()))
    stem = path.name[: -len("_events.tsv")]
    (log,) = find_logs(path)
    assert find_emg(log) is None
    both = path.with_name(f"{stem}_recording-scr_physio.tsv.gz")
    write_physio(both, {"scr": [1.0, 1.0], "EMG1": [0.0, 0.0]}, 1000.0)
    assert find_emg(log) == (both, "EMG1")
    assert find_emg(log, "orbicularis") is None
    own = path.with_name(f"{stem}_recording-emg_physio.tsv.gz")
    write_physio(own, {"emg": [0.0, 0.0], "orbicularis": [0.0, 0.0]}, 1000.0)
    assert find_emg(log) == (own, "emg")
    assert find_emg(log, "orbicularis") == (own, "orbicularis")
