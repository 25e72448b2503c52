"""A questionnaire-only dataset (a follow-up day with questions and no CS trial) is analysed:
``pavlov analyze`` writes the questionnaire outputs and a report saying there are no trials."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RECALL = Path(__file__).resolve().parents[2] / "protocols" / "fear_extinction_recall.yaml"


def test_questionnaire_only_session_is_analysed(tmp_path, capsys):
    """fear_extinction_recall with a day-30 follow-up holding only its debrief questions:
    `pavlov simulate` of that session, then `pavlov analyze` exits 0 with questionnaire.csv,
    its summary, awareness.csv and a report that says no CS trials were logged."""
    from pavlov.task.cli import main

    protocol = tmp_path / "recall.yaml"
    followup = "\n  - name: followup\n    day: 30\n    phases: [debrief]\n"
    protocol.write_text(RECALL.read_text().rstrip("\n") + followup)
    data, out = tmp_path / "data", tmp_path / "out"
    assert main(["simulate", str(protocol), "--participants", "3", "--sessions", "followup",
                 "--data", str(data), "--no-physio"]) == 0  # fmt: skip
    assert main(["analyze", str(data), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert (
        "3 participants, no CS trials (no conditioning analysis), 6 questionnaire answers" in said
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "awareness.csv",
        "questionnaire.csv",
        "questionnaire_summary.csv",
        "report.html",
    ]
    answers = pd.read_csv(out / "questionnaire.csv", dtype={"participant": str})
    assert set(answers["item"]) == {"us_unpleasant", "aware"}
    assert list(answers["participant"].drop_duplicates()) == ["001", "002", "003"]
    awareness = pd.read_csv(out / "awareness.csv")
    assert len(awareness) == 3 and set(awareness["awareness_items"]) == {1}
    report = (out / "report.html").read_text()
    assert "The logs hold no CS trial" in report and "Contingency awareness" in report
