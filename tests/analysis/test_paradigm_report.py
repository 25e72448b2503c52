"""The analyze outputs of startle and generalisation: probe counts and option checks."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.cli import register
from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.paradigm_report import probe_counts
from pavlov.analysis.startle import ITI, finish_probes


def test_probe_counts_split_scored_non_responses_and_artefacts():
    """Per CS type: probes, scored ones, zero-magnitude non-responses, each artefact."""
    probes = finish_probes(
        pd.DataFrame(
            {
                "participant": ["1"] * 6,
                "phase": ["acq"] * 6,
                "trial": [1, 2, 3, np.nan, np.nan, np.nan],
                "cs": ["CS+", "CS+", "CS+", ITI, ITI, ITI],
                "cs_type": ["CS+", "CS+", "CS+", ITI, ITI, ITI],
                "magnitude": [5.0, 0.0, np.nan, 1.0, 2.0, np.nan],
                "artefact": ["", "", "early", "", "", "no data"],
            }
        )
    )
    counts = probe_counts(probes).set_index("cs_type")
    assert counts.loc["CS+", ["probes", "scored", "non-responses"]].tolist() == [3, 2, 1]
    assert counts.loc["CS+", "artefact: early"] == 1
    assert counts.loc[ITI, "artefact: no data"] == 1
    assert counts.loc[ITI, "artefact: early"] == 0


def test_scoring_options_with_a_probe_table_are_refused(tmp_path):
    """--emg-channel scores recordings: with --startle-probes it is a one-line error."""
    table = tmp_path / "t.csv"
    table.write_text("participant,phase,trial,cs_type,us,response\n1,acq,1,CS+,1,3\n")
    probes = tmp_path / "p.csv"
    probes.write_text("participant,phase,trial,cs,startle\n1,acq,1,CS+,3\n")
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    args = parser.parse_args(
        ["analyze", str(table), "--out", str(tmp_path / "out"), "--models",
         "--startle-probes", str(probes), "--emg-channel", "emg"]
    )  # fmt: skip
    with pytest.raises(AnalysisError, match=r"^--emg-channel: scores EMG recordings"):
        args.func(args)
    assert not (tmp_path / "out").exists()
