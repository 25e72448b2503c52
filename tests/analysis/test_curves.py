"""Tests of pavlov.analysis.curves: learning curves and multiverse summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pavlov.analysis.curves import (
    add_blocks,
    choose_response,
    group_curves,
    participant_curves,
    select_trials,
    summarise_phases,
)
from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.load import load_trials
from pavlov.analysis.table import read_table


def toy(tmp_path):
    """Two participants, one phase, 4 CS+ and 4 CS- trials with known ratings."""
    rows = ["participant,phase,trial,cs_type,us,response,group"]
    values = {"a": ([1, 2, 3, 4], [0, 0, 1, 1]), "b": ([3, 4, 5, 6], [1, 1, 1, 1])}
    for person, (plus, minus) in values.items():
        for i in range(4):
            rows.append(f"{person},acq,{2 * i + 1},CS+,{int(i == 0)},{plus[i]},g")
            rows.append(f"{person},acq,{2 * i + 2},CS-,0,{minus[i]},g")
    path = tmp_path / "toy.csv"
    path.write_text("\n".join(rows) + "\n")
    return read_table(path)


def test_participant_curves_by_block(tmp_path):
    """Blocks of 2 average 2 trials of each CS; diff is CS+ minus CS-."""
    per = participant_curves(toy(tmp_path), "rating", by="block", block_size=2)
    a = per[per["participant"] == "a"].set_index(["block", "cs_type"])["value"]
    assert a[(1, "CS+")] == 1.5
    assert a[(1, "CS-")] == 0.0
    assert a[(2, "diff")] == 3.5 - 1.0
    assert per["cs_type"].tolist()[:3] == ["CS+", "CS-", "diff"]


def test_group_curves_mean_and_sem(tmp_path):
    """Group rows give n, mean and SEM = SD/√n over participants."""
    per = participant_curves(toy(tmp_path), "rating", by="trial")
    group = group_curves(per)
    first = group[(group["trial"] == 1) & (group["cs_type"] == "CS+")].iloc[0]
    assert first["n"] == 2
    assert first["mean"] == 2.0
    assert first["sem"] == pytest.approx(np.std([1, 3], ddof=1) / np.sqrt(2))
    assert list(group.columns) == [
        "group",
        "phase",
        "phase_order",
        "trial",
        "cs_type",
        "n",
        "mean",
        "sem",
        "sem_within",
    ]


def test_within_subject_sem_matches_cousineau_morey():
    """sem_within is the Cousineau–Morey SEM: participant-centred values, SD/√n × √(J/(J−1));
    a participant offset that the between-subject SEM carries does not enter it."""
    rows = []
    for person, offset in (("a", 0.0), ("b", 10.0), ("c", 5.0)):
        for trial, (plus, minus) in enumerate(((3.0, 1.0), (4.0, 1.5)), start=1):
            for kind, value in (("CS+", plus), ("CS-", minus)):
                jitter = {"a": 0.1, "b": -0.2, "c": 0.3}[person] * (kind == "CS+") * trial
                rows.append(
                    {
                        "participant": person,
                        "group": "",
                        "phase": "acq",
                        "phase_order": 1,
                        "trial": trial,
                        "cs_type": kind,
                        "value": offset + value + jitter,
                    }
                )
    per = pd.DataFrame(rows)
    group = group_curves(per).set_index(["trial", "cs_type"])
    wide = per.pivot_table(index="participant", columns=["trial", "cs_type"], values="value")
    normalised = wide.sub(wide.mean(axis=1), axis=0) + wide.to_numpy().mean()
    expected = normalised.std(ddof=1) / np.sqrt(3) * np.sqrt(4 / 3)
    for cell, value in expected.items():
        assert group.loc[cell, "sem_within"] == pytest.approx(value)
        assert group.loc[cell, "sem"] > 2 * group.loc[cell, "sem_within"]


def test_exclude_reinforced_and_drop_first_keep_numbering(tmp_path):
    """Excluding reinforced or first trials removes them without renumbering the rest."""
    trials = toy(tmp_path)
    per = participant_curves(trials, "rating", by="trial", exclude_reinforced=True)
    plus = per[(per["participant"] == "a") & (per["cs_type"] == "CS+")]
    assert plus["trial"].tolist() == [2, 3, 4]
    dropped = participant_curves(trials, "rating", by="trial", drop_first=True)
    assert 1 not in set(dropped["trial"])
    assert len(select_trials(trials, drop_first=["other phase"])) == len(trials)
    assert len(select_trials(trials, drop_first=["acquisition"])) == len(trials) - 4


def test_block_size_validation_and_table_blocks(tmp_path):
    """A bad block size is one line; None keeps a table's own blocks."""
    trials = toy(tmp_path)
    with pytest.raises(AnalysisError, match=r"block_size: expected a whole number >= 1, got 0"):
        add_blocks(trials, 0)
    own = trials.assign(block=7.0)
    assert set(add_blocks(own)["block"]) == {7}
    assert set(add_blocks(trials)["block"]) == {1, 2}


def test_unknown_response_is_one_line(tmp_path):
    """Asking for a column that is not there lists the measured ones."""
    with pytest.raises(
        AnalysisError, match=r"response: expected a measured column \(rating\), got 'scr2'"
    ):
        participant_curves(toy(tmp_path), "scr2")


def test_choose_response_prefers_scr(tmp_path):
    """scr is chosen when it has values, else rating."""
    trials = toy(tmp_path)
    assert choose_response(trials) == "rating"
    assert choose_response(trials.assign(scr=1.0)) == "scr"


def test_summaries(tmp_path):
    """Multiverse summaries average the right subsets of trials."""
    out = summarise_phases(toy(tmp_path), "rating")
    a = out[(out["participant"] == "a")].set_index(["summary", "cs_type"])["value"]
    assert a[("all", "CS+")] == 2.5
    assert a[("first", "CS+")] == 1
    assert a[("last", "CS+")] == 4
    assert a[("first_half", "CS+")] == 1.5
    assert a[("second_half", "CS+")] == 3.5
    assert a[("all_but_first", "CS+")] == 3
    assert a[("block2_2", "diff")] == 3.5 - 1
    assert a[("last_minus_first", "CS+")] == 3
    assert a[("first33pct", "CS+")] == 1  # round(4 * .33) = 1 trial
    assert a[("last5", "CS-")] == 0.5


def test_curves_from_logs_keep_phase_order(bids_data):
    """Curves from BIDS logs list phases in the order they occurred, per group."""
    trials = load_trials(bids_data)
    group = group_curves(participant_curves(trials, "rating", block_size=2))
    assert list(dict.fromkeys(group["phase"])) == ["acquisition", "extinction", "recall"]
    assert list(dict.fromkeys(group["group"])) == ["drug", "placebo"]
    acq = group[(group["group"] == "placebo") & (group["phase"] == "acquisition")]
    # participants 2 (CS+ rated 1.6) and 10 (8) against CS- 2: diff = (-0.4 + 6) / 2
    assert acq[acq["cs_type"] == "diff"]["mean"].iloc[0] == pytest.approx(2.8)


# ReactExtMRI (SOURCE.md table "SCR ... raw"): participant means, then the mean over 25.
REACTEXT_RAW = {
    ("ACQ", "all", "CS+R"): 0.158,
    ("ACQ", "all", "CS+NR"): 0.174,
    ("ACQ", "all", "CS-"): -0.331,
    ("REACT", "all", "CS+R"): 1.509,
    ("EXT", "first_half", "CS+R"): -0.329,
    ("EXT", "first_half", "CS+NR"): -0.276,
    ("EXT", "first_half", "CS-"): -0.424,
    ("EXT", "second_half", "CS+R"): -0.889,
    ("EXT", "second_half", "CS+NR"): -0.818,
    ("EXT", "second_half", "CS-"): -0.908,
    ("EXT-RE", "all", "CS+R"): -0.886,
    ("EXT-RE", "all", "CS+NR"): -0.813,
    ("EXT-RE", "all", "CS-"): -0.811,
    ("REN", "all", "CS+R"): -0.752,
    ("REN", "all", "CS+NR"): -0.901,
    ("REN", "all", "CS-"): -0.512,
}


def test_reactext_phase_means_match_source(reactext_table):
    """Multi-phase summaries of ReactExtMRI SCR reproduce SOURCE.md's table (3 decimals)."""
    trials = read_table(reactext_table, response_name="scr")
    assert trials["participant"].nunique() == 25
    assert list(dict.fromkeys(trials["phase"])) == ["ACQ", "REACT", "EXT", "EXT-RE", "REN"]
    got = {}
    for role in ("CS+R", "CS+NR", "CS-"):
        subset = trials[trials["cs"] == role].assign(cs_type="CS+")  # one role as "CS+"
        summaries = summarise_phases(subset, "scr")
        means = (
            summaries[summaries["cs_type"] == "CS+"].groupby(["phase", "summary"])["value"].mean()
        )
        for (phase, summary, name), _ in REACTEXT_RAW.items():
            if name == role:
                got[(phase, summary, name)] = round(means[(phase, summary)], 3)
    assert got == REACTEXT_RAW


def test_reactext_curves_by_block_have_all_phases(reactext_table):
    """Block curves of ReactExtMRI without CS+ACQ: every phase in order, CS+ above CS- in ACQ."""
    trials = read_table(reactext_table, response_name="scr")
    trials = trials[trials["cs"] != "CS+ACQ"]
    group = group_curves(participant_curves(trials, "scr", block_size=6))
    assert list(dict.fromkeys(group["phase"])) == ["ACQ", "REACT", "EXT", "EXT-RE", "REN"]
    acq = group[(group["phase"] == "ACQ") & (group["cs_type"] == "diff")]
    assert (acq["mean"] > 0).all()
    ext_blocks = group[(group["phase"] == "EXT") & (group["cs_type"] == "CS+")]["block"].tolist()
    assert ext_blocks == [1, 2]
    assert isinstance(group, pd.DataFrame)
