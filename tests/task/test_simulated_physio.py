"""Tests of pavlov.task.simulated_physio: simulated skin conductance and blink EMG."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from pavlov.analysis.physio import Physio, read_physio
from pavlov.analysis.scr import score_events
from pavlov.task.simulated_physio import (
    RATE,
    TrialResponse,
    blink_emg,
    format_columns,
    skin_conductance,
    write_bids_physio,
)


def trials(values, spacing=25.0):
    return [TrialResponse(10.0 + spacing * i, v, None) for i, v in enumerate(values)]


def test_format_columns_reads_back_as_the_rounded_numbers():
    """The numpy-built text parses back to the values rounded to the stated decimals."""
    rng = np.random.default_rng(0)
    scr = rng.uniform(0, 40, 1000)
    emg = rng.normal(0, 300, 1000)
    text = format_columns([scr, emg], [4, 2]).decode()
    back = np.loadtxt(io.StringIO(text), delimiter="\t")
    np.testing.assert_allclose(back[:, 0], np.round(scr, 4), atol=1e-9)
    np.testing.assert_allclose(back[:, 1], np.round(emg, 2), atol=1e-9)
    assert not any(
        cell.startswith("0") and len(cell) > 1 and cell[1] != "." for cell in text.split()
    )


def test_scoring_recovers_the_known_amplitudes(tmp_path):
    """SCR amplitudes that follow the expectation come back from pavlov's own scorer (read
    from the written BIDS file): correlation > 0.95, within 0.05 µS on average."""
    values = np.linspace(0.0, 1.0, 40)
    responses = trials(values)
    sim = skin_conductance(responses, responses[-1].onset + 20, seed=3, responder=True)
    path = write_bids_physio(
        tmp_path / "sub-1_task-x_recording-scr_physio.tsv.gz",
        {"scr": sim.scr},
        {"scr": "uS"},
        sim.start_time,
        decimals=[4],
    )
    recording = read_physio(path)
    assert recording.sampling_frequency == RATE and recording.start_time == sim.start_time
    events = pd.DataFrame(
        {"onset": [r.onset for r in responses], "duration": 6.0, "trial_type": "cs"}
    )
    scored = score_events(events, recording).to_numpy(dtype=float)
    truth = sim.cs_amplitudes
    assert np.corrcoef(scored, truth)[0, 1] > 0.95
    assert np.mean(np.abs(scored - truth)) < 0.05
    assert np.all(np.diff(truth[::10]) > -0.3)  # amplitude follows the expectation


def test_nonresponders_show_no_responses():
    """A non-responder's recording has a tonic level and noise only: every CS scores 0."""
    responses = [TrialResponse(10.0 + 25 * i, 1.0, 16.0 + 25 * i) for i in range(10)]
    sim = skin_conductance(responses, 270, seed=4, responder=False)
    assert not sim.responder and np.all(sim.cs_amplitudes == 0)
    recording = Physio(pd.DataFrame({"scr": sim.scr}), RATE, sim.start_time)
    events = pd.DataFrame({"onset": [r.onset for r in responses], "duration": 6.0})
    events["trial_type"] = "cs"
    assert np.nanmax(score_events(events, recording).to_numpy(dtype=float)) < 0.02


def test_blink_emg_grows_with_the_expectation_at_each_probe():
    """Blink bursts follow each startle probe 30–130 ms later and are larger when the
    US is expected (fear-potentiated startle); between probes only baseline noise."""
    probes = [(5.0 + 3 * i, v) for i, v in enumerate([0.0, 1.0] * 10)]
    emg = blink_emg(probes, 0.0, int(70 * RATE), seed=5)

    def rms(onset, a, b):
        return np.sqrt(np.mean(emg[int((onset + a) * RATE) : int((onset + b) * RATE)] ** 2))

    low = [rms(t, 0.02, 0.14) for t, v in probes if v == 0]
    high = [rms(t, 0.02, 0.14) for t, v in probes if v == 1]
    quiet = [rms(t, 1.0, 2.0) for t, _ in probes]
    assert np.mean(high) > 1.5 * np.mean(low) > 3 * np.mean(quiet)


def test_short_and_empty_sessions_have_a_recording():
    """A session of a few seconds (a device check) or without trials still gets a
    recording of the right length: 5 s before, 15 s after."""
    for responses, end in (([], 0.0), (trials([0.5]), 12.0)):
        sim = skin_conductance(responses, end, seed=1)
        assert len(sim.scr) == round((end + 15.0 + 5.0) * RATE)
        assert np.isfinite(sim.scr).all()
