"""Questionnaire answers in the analysis: the tidy table, the awareness classification and
the `unaware` exclusion flag, end to end from simulated sessions of the bundled
fear_extinction_recall (US unpleasantness each day, an awareness item at the end of day 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest

from pavlov.analysis.cli import register
from pavlov.analysis.errors import AnalysisError
from pavlov.analysis.exclusions import flag_participants
from pavlov.analysis.questionnaire import classify_awareness


def answers(rows):
    """A questionnaire frame of awareness answers: (participant, chosen role or '')."""
    return pd.DataFrame(
        {
            "participant": [p for p, _ in rows],
            "group": "",
            "awareness_item": True,
            "cs": [c for _, c in rows],
            "cs_type": [c[:3] if c else "" for _, c in rows],
        }
    )


def test_awareness_needs_the_cs_plus_every_time():
    """Aware: the CS+ picture in every answered awareness item; unaware: another picture
    once; unknown: no awareness item answered (a miss)."""
    frame = classify_awareness(
        answers([("01", "CS+"), ("02", "CS-"), ("03", "CS+"), ("03", "CS-"), ("04", "")])
    )
    result = dict(zip(frame["participant"], frame["aware"].astype(object), strict=True))
    assert result == {"01": True, "02": False, "03": False, "04": pd.NA}
    assert frame.set_index("participant").loc["03", "chosen"] == "CS+;CS-"
    assert frame.set_index("participant").loc["04", "awareness_items"] == 0


def test_per_cs_scales_are_aware_when_the_cs_plus_is_rated_above_every_cs_minus():
    """Shock expectancy per CS: aware when the CS+ rating exceeds every CS− rating (01), not
    when a CS− is rated as high (02); a missed CS+ rating says nothing (03); a picture choice
    of the CS− makes an otherwise aware participant unaware (04)."""
    rows = [
        ("01", "scale", "CS+", 8.0), ("01", "scale", "CS-", 2.0), ("01", "scale", "CS-2", 3.0),
        ("02", "scale", "CS+", 5.0), ("02", "scale", "CS-", 2.0), ("02", "scale", "CS-2", 5.0),
        ("03", "scale", "CS+", float("nan")), ("03", "scale", "CS-", 1.0),
        ("04", "scale", "CS+", 9.0), ("04", "scale", "CS-", 1.0),
        ("04", "picture_choice", "CS-", 2.0),
    ]  # fmt: skip
    frame = pd.DataFrame(
        {
            "participant": [r[0] for r in rows],
            "group": "",
            "session": "day2",
            "run": 1,
            "phase": "debrief",
            "form": [r[1] for r in rows],
            "awareness_item": True,
            "cs": [r[2] for r in rows],
            "cs_type": [r[2][:3] for r in rows],
            "rating": [r[3] for r in rows],
        }
    )
    result = classify_awareness(frame).set_index("participant")
    assert dict(zip(result.index, result["aware"].astype(object), strict=True)) == {
        "01": True,
        "02": False,
        "03": pd.NA,
        "04": False,
    }
    assert result.loc["01", "chosen"] == "CS+=8 > CS-=2,CS-2=3"
    assert result.loc["01", "awareness_items"] == 3
    assert result.loc["04", "chosen"] == "CS-;CS+=9 > CS-=1"


def trials(participants):
    """A minimal trial frame: one answered CS+ and CS− acquisition trial per participant."""
    rows = []
    for p in participants:
        for cs, value in (("CS+", 5.0), ("CS-", 1.0)):
            rows.append(
                dict(participant=p, group="", phase="acq", phase_type="acquisition", trial=1,
                     cs=cs, cs_type=cs, reinforced=False, rating=value, us_scr=float("nan"),
                     cs_trial=1, phase_order=1)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_unaware_excludes_only_when_chosen():
    """`unaware` is flagged for the participant who chose the CS−, NA for one without an
    answer; it excludes only when named as a criterion, and naming it without awareness
    items in the data is a one-line error."""
    aware = classify_awareness(answers([("01", "CS+"), ("02", "CS-")]))
    data = trials(["01", "02", "03"])
    flags = flag_participants(data, "rating", criteria=(), awareness=aware).set_index("participant")
    assert flags["unaware"].isna().tolist() == [False, False, True]
    assert flags["unaware"].iloc[:2].tolist() == [False, True]
    assert not flags["excluded"].any()
    chosen = flag_participants(data, "rating", criteria=("unaware",), awareness=aware)
    assert chosen.loc[chosen["excluded"], "participant"].tolist() == ["02"]
    with pytest.raises(AnalysisError, match=r"^--exclude unaware: expected answered"):
        flag_participants(data, "rating", criteria=("unaware",))


@pytest.fixture(scope="module")
def study(simulate, tmp_path_factory):
    """Three simulated participants through both days (day 2 remembers day 1, as with
    `pavlov run --simulate`, so all three are aware); participant 03 then answers the
    awareness item with the CS− picture (as an unaware participant would)."""
    root = tmp_path_factory.mktemp("quest") / "data"
    for participant in ("01", "02", "03"):
        for session in ("day1", "day2"):
            simulate.run(
                root, "fear_extinction_recall", participant, session, speed=20.0, replay=True
            )
    log = next((root / "sub-03" / "ses-day2").rglob("*_events.tsv"))
    lines = log.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")
    for i, line in enumerate(lines):
        cells = line.rstrip("\n").split("\t")
        if cells[header.index("item")] == "aware":
            assert cells[header.index("cs")] == "CS+"
            cells[header.index("cs")] = cells[header.index("cs_type")] = "CS-"
            cells[header.index("value")] = "CS-"
            cells[header.index("rating")] = "2.0000"
            lines[i] = "\t".join(cells) + "\n"
    log.write_text("".join(lines))
    return root


def analyze(root: Path, out: Path, *extra: str) -> int:
    """`pavlov analyze` in process (no model fits, no figures)."""
    parser = argparse.ArgumentParser(prog="pavlov")
    register(parser.add_subparsers())
    argv = ["analyze", str(root), "--out", str(out), "--models", "--no-figures", *extra]
    args = parser.parse_args(argv)
    return args.func(args)


def test_analyze_writes_the_answers_and_excludes_the_unaware_when_asked(study, tmp_path, capsys):
    """`pavlov analyze` writes every item asked (US unpleasantness on both days, awareness on
    day 2, the form and awareness flag from the recorded protocol), classifies 03 as
    unaware, and excludes 03 only with --exclude unaware; the report shows both tables."""
    assert analyze(study, tmp_path / "all") == 0
    table = pd.read_csv(tmp_path / "all" / "questionnaire.csv", dtype={"participant": str})
    assert len(table) == 9  # 3 participants × (2 unpleasantness + 1 awareness)
    unpleasant = table[table["item"] == "us_unpleasant"]
    assert set(unpleasant["form"]) == {"scale"} and not unpleasant["awareness_item"].any()
    assert unpleasant["rating"].between(0, 10).all() and unpleasant["rt"].gt(0).all()
    aware = table[table["item"] == "aware"].set_index("participant")
    assert aware["awareness_item"].all() and set(aware["form"]) == {"picture_choice"}
    assert aware["cs"].to_dict() == {"01": "CS+", "02": "CS+", "03": "CS-"}
    awareness = pd.read_csv(tmp_path / "all" / "awareness.csv", dtype={"participant": str})
    assert awareness.set_index("participant")["aware"].to_dict() == {
        "01": True,
        "02": True,
        "03": False,
    }
    flags = pd.read_csv(tmp_path / "all" / "exclusion_flags.csv", dtype={"participant": str})
    assert flags.set_index("participant")["unaware"].to_dict() == {
        "01": False,
        "02": False,
        "03": True,
    }
    assert not flags["excluded"].any()
    report = (tmp_path / "all" / "report.html").read_text()
    assert "Contingency awareness" in report and "us_unpleasant" in report

    capsys.readouterr()
    assert analyze(study, tmp_path / "kept", "--exclude", "unaware") == 0
    assert "2 kept after exclusions" in capsys.readouterr().out
    flags = pd.read_csv(tmp_path / "kept" / "exclusion_flags.csv", dtype={"participant": str})
    assert flags.loc[flags["excluded"], "participant"].tolist() == ["03"]
