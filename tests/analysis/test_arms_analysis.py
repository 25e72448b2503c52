"""Arms end to end: retrieval_extinction's sessions played by the runner (fast path) for
participants in its three arms, then ``pavlov analyze`` compares the arms as groups, and
``--codes FILE --unblind`` takes the groups from a blinded study's code list."""

from __future__ import annotations

import pandas as pd


def analyze(*argv):
    """`pavlov analyze ...` through the top-level CLI, in process."""
    from pavlov.task.cli import main

    return main(["analyze", *map(str, argv)])


def test_arms_are_the_groups_analyze_compares(tmp_path, simulate):
    """Participants 03 and 05 (arms no_reminder and reminder_10min by number) get arm and
    group in participants.tsv, 03's day 2 has no reminder, and analyze's curves name both
    arms as groups."""
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.protocols.arms import choose_arm
    from pavlov.task.simulate import simulate_run_physio

    root = tmp_path / "data"
    protocol = load_protocol(simulate.protocols / "retrieval_extinction.yaml")
    for participant in ("03", "05"):
        view = choose_arm(protocol, participant)
        for session in ("day1", "day2"):
            paths = simulate.run(root, "retrieval_extinction", participant, session, speed=200.0)
            # the skin conductance `pavlov run --simulate` records beside the log
            simulate_run_physio(paths, view, build_schedule(view, participant, session))
    table = pd.read_csv(root / "participants.tsv", sep="\t", dtype=str)
    assert list(table["arm"]) == ["no_reminder", "reminder_10min"]
    assert list(table["group"]) == list(table["arm"])
    phases = {
        p: set(
            pd.read_csv(next(root.glob(f"sub-{p}/ses-day2/beh/*_events.tsv")), sep="\t")["phase"]
        )
        for p in ("03", "05")
    }
    assert "reminder" not in phases["03"] and "reminder" in phases["05"]
    out = tmp_path / "out"
    assert analyze(root, "--out", out, "--no-figures", "--models") == 0
    curves = pd.read_csv(out / "curves_by_block.csv")
    assert set(curves["group"].dropna()) == {"no_reminder", "reminder_10min"}


def test_unblind_sets_listed_participants_groups():
    """unblind() gives each listed participant its arm as group, keeps the others', and
    keeps a categorical column categorical."""
    from pavlov.analysis.cli import unblind

    frame = pd.DataFrame(
        {"participant": ["01", "02", "03"], "group": pd.Categorical(["n/a", "n/a", "x"])}
    )
    out = unblind(frame, {"01": "drug", "02": "placebo"})
    assert list(out["group"]) == ["drug", "placebo", "x"]
    assert isinstance(out["group"].dtype, pd.CategoricalDtype)
    assert list(frame["group"]) == ["n/a", "n/a", "x"]  # the input is not changed


def test_unblind_matches_the_code_lists_1_to_the_datas_01():
    """A code list written 1 and sub-002 unblinds the data's participants 01 and 2."""
    from pavlov.analysis.cli import unblind

    frame = pd.DataFrame({"participant": ["01", "2", "03"], "group": ["n/a", "n/a", "n/a"]})
    out = unblind(frame, {"1": "drug", "sub-002": "placebo"})
    assert list(out["group"]) == ["drug", "placebo", "n/a"]


def test_a_session_without_cs_trials_is_analysed(tmp_path, simulate):
    """ketamine_reconsolidation's infusion session (reactivation, infusion wait, ratings: no
    CS trial) with its simulated recording loads beside an exposure session (it was a
    KeyError '_position'), and its post-phase ratings are kept."""
    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.protocols.arms import choose_arm
    from pavlov.task.simulate import simulate_run_physio

    root = tmp_path / "data"
    view = choose_arm(load_protocol(simulate.protocols / "ketamine_reconsolidation.yaml"), "demo")
    for session in ("infusion", "exposure1"):
        paths = simulate.run(root, "ketamine_reconsolidation", "demo", session, speed=200.0)
        simulate_run_physio(paths, view, build_schedule(view, "demo", session))
    from pavlov.analysis.load import load_study

    trials, ratings = load_study(root)
    assert set(trials["session"]) == {"exposure1"} and len(trials) == 16
    assert set(ratings["session"]) == {"infusion", "exposure1"}


BLINDED = """\
pavlov: 1
study: Blinded
task: blinded
seed: 3
cs:
  roles: [CS+, CS-]
  stimuli:
    blue: {image: cs/blue_square.png}
    yellow: {image: cs/yellow_square.png}
us:
  shock:
    type: shock
    train: {pulse_width: 0.2, interval: 0.3, count: 1}
    duration: 0.2
safety: {max_shocks: 4, max_train_duration: 2}
calibration: {target: 7, start_ma: 0.5, step_ma: 0.5, ceiling_ma: 8}
phases:
  acquisition:
    type: acquisition
    trials: {CS+: 2, CS-: 2}
    reinforced: {CS+: 2}
    cs_duration: 4
    iti: 0.5
    probes: {at: 3, share: 0.5, iti: 1}
  post:
    type: questionnaire
    items:
      - {id: aware, text: "Which one?", picture_choice: [CS+, CS-], awareness: true}
sessions:
  - {name: s1, phases: [acquisition, post]}
arms:
  drug: {}
  placebo: {}
"""


def blinded_study(tmp_path):
    """Four simulated participants of BLINDED, recorded blinded with kit codes K001-K004;
    the code list (drug for odd numbers) and each one's arm."""
    from pavlov.task.cli import main

    protocol = tmp_path / "blinded.yaml"
    protocol.write_text(BLINDED)
    root = tmp_path / "data"
    assert main(["simulate", str(protocol), "--participants", "4", "--data", str(root)]) == 0
    ids = [f"00{n}" for n in range(1, 5)]
    rows = [f"sub-{p}\tblinded\tn/a\tK{p}" for p in ids]
    (root / "participants.tsv").write_text("participant_id\tarm\tgroup\tcode\n" + "\n".join(rows))
    codes = tmp_path / "codes.csv"
    arms = {p: "drug" if int(p) % 2 else "placebo" for p in ids}
    codes.write_text("participant,code,arm\n" + "".join(f"{p},K{p},{arms[p]}\n" for p in ids))
    return root, codes, arms


def test_unblind_reaches_startle_and_questionnaire_tables(tmp_path):
    """With a blinded study (participants.tsv group n/a), --codes --unblind gives the arm as
    group in startle.csv, startle_potentiation.csv, questionnaire.csv and awareness.csv too
    (they read participants.tsv and kept the empty group: no arm comparison of startle)."""
    root, codes, arms = blinded_study(tmp_path)
    out = tmp_path / "out"
    assert analyze(root, "--out", out, "--no-figures", "--codes", codes, "--unblind") == 0
    for name in ("startle.csv", "startle_potentiation.csv", "questionnaire.csv", "awareness.csv"):
        table = pd.read_csv(out / name, dtype={"participant": str})
        assert dict(zip(table["participant"], table["group"])) == arms, name


def test_unblind_refuses_a_code_list_that_does_not_match_the_record(tmp_path, capsys):
    """A blinded participant missing from the code list, or listed with another kit code
    than the one recorded at the run, is one line and exit 2 before any output (was: left
    with no group, or given the other kit's arm, silently)."""
    root, codes, _ = blinded_study(tmp_path)
    lines = codes.read_text().splitlines()
    for text, message in (
        (lines[:-1], f"expected a row for sub-004 (blinded in {root}/participants.tsv), got none"),
        (
            [*lines[:2], "002,K999,placebo", *lines[3:]],
            f"{codes}:3: code: expected K002 (sub-002's kit code in {root}/participants.tsv), "
            "got K999",
        ),
    ):
        codes.write_text("\n".join(text) + "\n")
        out = tmp_path / "out"
        assert analyze(root, "--out", out, "--no-figures", "--codes", codes, "--unblind") == 2
        err = capsys.readouterr().err
        assert err.strip().endswith(message) and err.count("\n") == 1, err
        assert not out.exists()
