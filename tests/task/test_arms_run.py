"""``pavlov run`` with arms in a real window under Xvfb: the arm is recorded in
participants.tsv and the sidecar, holds for later sessions, can be given with --arm, and
stays hidden under a blinded code list until ``pavlov analyze --codes --unblind``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
RETEXT = PROTOCOLS / "retrieval_extinction.yaml"

pytestmark = pytest.mark.display


def pavlov(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run(env, data, protocol, participant, session, *extra):
    return pavlov(
        env,
        "run",
        str(protocol),
        "-p",
        participant,
        "-s",
        session,
        "--simulate",
        "--speed",
        "2000",
        "--windowed",
        "--data",
        str(data),
        *extra,
    )


def participants(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "participants.tsv", sep="\t", dtype=str, keep_default_na=False)


def test_arm_is_recorded_and_kept(xvfb, tmp_path):
    """Participant 03's arm by number (no_reminder) runs without the reminder, is written to
    participants.tsv (arm, group) and the sidecar; a later --arm that disagrees with it is
    one line, exit 2, before any window."""
    data = tmp_path / "data"
    first = run(xvfb, data, RETEXT, "03", "day2", "--allow-session-gap")  # no day 1 here
    assert first.returncode == 0, first.stderr
    assert "warning: --session day2: expected sub-03's earlier session day1 first" in first.stderr
    assert "sub-03: arm no_reminder" in first.stderr
    (events,) = data.glob("sub-03/ses-day2/beh/*_events.tsv")
    phases = set(pd.read_csv(events, sep="\t")["phase"])
    assert "reminder" not in phases and "extinction" in phases
    (record,) = data.glob("sub-03/ses-day2/beh/*_session.json")
    assert json.loads(record.read_text())["arm"] == "no_reminder"
    again = run(xvfb, data, RETEXT, "03", "day3", "--arm", "reminder_10min")
    assert again.returncode == 2
    assert again.stderr.strip().endswith(
        f"expected no_reminder (sub-03's arm in {data}/participants.tsv), got reminder_10min"
    )
    assert again.stderr.count("\n") == 1
    table = participants(data).set_index("participant_id")
    assert table.loc["sub-03", "arm"] == table.loc["sub-03", "group"] == "no_reminder"


def test_arm_holds_when_participants_tsv_is_lost(xvfb, tmp_path):
    """With participants.tsv lost after day 2, the arm day 2's run record names still holds:
    a day-3 --arm that disagrees is one line naming that record, exit 2 (was: run in the
    other arm, the participant recorded in two arms)."""
    data = tmp_path / "data"
    first = run(xvfb, data, RETEXT, "03", "day2", "--allow-session-gap")
    assert first.returncode == 0, first.stderr
    (data / "participants.tsv").unlink()
    again = run(xvfb, data, RETEXT, "03", "day3", "--arm", "reminder_10min", "--allow-session-gap")
    assert again.returncode == 2, again.stderr
    (record,) = data.glob("sub-03/ses-day2/beh/*_session.json")
    assert again.stderr.strip().endswith(
        f"expected no_reminder (sub-03's arm in {record}), got reminder_10min"
    )
    assert again.stderr.count("\n") == 1
    assert not list(data.glob("sub-03/ses-day3"))


KETAMINE = PROTOCOLS / "ketamine_reconsolidation.yaml"


def test_blinded_code_list_hides_the_arm(xvfb, tmp_path):
    """ketamine_reconsolidation's infusion under --codes: the console and the log never name
    the arm, participants.tsv and the sidecar say blinded and keep the kit code; the
    participant's next session needs the list again."""
    codes = tmp_path / "codes.csv"
    codes.write_text("participant,code,arm\ndemo,K101,ketamine\n")
    data = tmp_path / "data"
    done = run(xvfb, data, KETAMINE, "demo", "infusion", "--codes", str(codes))
    assert done.returncode == 0, done.stderr
    from pavlov.protocols import load_protocol

    study = load_protocol(KETAMINE).study  # names both drugs; the arm is what stays hidden
    said = (done.stderr + done.stdout).replace(study, "")
    assert "ketamine" not in said and "midazolam" not in said and " arm " not in said
    (log,) = data.glob("sub-demo/ses-infusion/*/*_events.tsv")
    assert "ketamine" not in log.read_text() and "midazolam" not in log.read_text()
    table = participants(data).set_index("participant_id")
    assert table.loc["sub-demo", "arm"] == "blinded" and table.loc["sub-demo", "code"] == "K101"
    assert table.loc["sub-demo", "group"] == "n/a"
    (record,) = data.glob("sub-demo/ses-infusion/*/*_session.json")
    assert json.loads(record.read_text())["arm"] == "blinded"
    missing = run(xvfb, data, KETAMINE, "demo", "exposure1")
    assert missing.returncode == 2
    assert "--codes: expected the blinded code list" in missing.stderr


def test_simulate_records_a_blinded_study_as_run_does(xvfb, tmp_path):
    """ketamine_reconsolidation under a code list written 1 / sub-02: `pavlov simulate
    --codes` and `pavlov run --simulate --codes` write the same participants.tsv cells
    (arm blinded, group n/a, the kit code) and sidecar arm; --unblind writes the arms."""
    import shutil

    folder = tmp_path / "study"
    (folder / "scripts").mkdir(parents=True)
    shutil.copy(KETAMINE, folder)
    for script in (PROTOCOLS.parent / "stimuli" / "scripts").glob("demo_*.wav"):
        for participant in ("001", "002"):
            shutil.copy(script, folder / "scripts" / script.name.replace("demo", participant))
    protocol = folder / KETAMINE.name
    codes = tmp_path / "codes.csv"
    codes.write_text("participant,code,arm\n1,K101,ketamine\nsub-02,K102,midazolam\n")
    simulated, ran, unblinded = tmp_path / "simulated", tmp_path / "ran", tmp_path / "unblinded"
    common = ["--participants", "2", "--sessions", "infusion", "--no-physio", "--codes", str(codes)]
    done = pavlov(xvfb, "simulate", str(protocol), "--data", str(simulated), *common)
    assert done.returncode == 0, done.stderr
    for participant in ("001", "002"):
        done = run(xvfb, ran, protocol, participant, "infusion", "--codes", str(codes))
        assert done.returncode == 0, done.stderr
    columns = ["participant_id", "arm", "group", "code"]
    assert participants(simulated)[columns].to_dict("records") == [
        {"participant_id": "sub-001", "arm": "blinded", "group": "n/a", "code": "K101"},
        {"participant_id": "sub-002", "arm": "blinded", "group": "n/a", "code": "K102"},
    ]
    assert participants(simulated)[columns].equals(participants(ran)[columns])
    for data in (simulated, ran):
        for record in data.glob("sub-*/ses-infusion/*/*_session.json"):
            assert json.loads(record.read_text())["arm"] == "blinded"
        for log in data.glob("sub-*/ses-infusion/*/*_events.tsv"):
            assert "ketamine" not in log.read_text() and "midazolam" not in log.read_text()
    done = pavlov(xvfb, "simulate", str(protocol), "--data", str(unblinded), *common, "--unblind")
    assert done.returncode == 0, done.stderr
    assert list(participants(unblinded)["arm"]) == ["ketamine", "midazolam"]
    assert list(participants(unblinded)["group"]) == ["ketamine", "midazolam"]
    (record,) = unblinded.glob("sub-002/ses-infusion/*/*_session.json")
    assert json.loads(record.read_text())["arm"] == "midazolam"


def test_simulate_refuses_a_participant_the_code_list_lacks(tmp_path):
    """`pavlov simulate --codes` for a participant not in the list is one line, exit 2,
    and writes nothing (as `pavlov run --codes`)."""
    codes = tmp_path / "codes.csv"
    codes.write_text("participant,code\n01,K101\n")
    data = tmp_path / "data"
    done = pavlov(
        None,
        "simulate",
        str(KETAMINE),
        "--participants",
        "2",
        "--data",
        str(data),
        "--codes",
        str(codes),
        "--sessions",
        "infusion",
    )
    assert (done.returncode, done.stderr) == (
        2,
        "pavlov: --codes: expected a row for participant 002 in the code list, got none\n",
    )
    assert not data.exists()
    done = pavlov(None, "simulate", str(KETAMINE), "--participants", "1", "--unblind")
    assert done.stderr == (
        "pavlov: --unblind: expected --codes FILE (the list that holds the arms)\n"
    )


def test_a_participants_tsv_not_in_utf8_stops_the_run_before_any_file(xvfb, tmp_path):
    """With a Latin-1 participants.tsv in the dataset (saved from Excel), `pavlov run`
    exits 2 with one line naming the file and creates no run file; it was an internal
    error (exit 1) after the events log and a session record saying `end_reason: running`
    were written, so the next attempt needed --resume of a run that never started."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "participants.tsv").write_bytes(b"participant_id\tnote\nsub-99\tM\xfcller\n")
    trace = PROTOCOLS / "trace_conditioning.yaml"
    done = run(xvfb, data, trace, "03", "day1")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "participants.tsv" in last and "internal error" not in done.stderr, done.stderr
    assert not list(data.glob("sub-03/**/*_session.json"))


def test_kit_code_cannot_change_when_participants_tsv_is_lost(xvfb, tmp_path):
    """A blinded participant's kit code holds across sessions even when participants.tsv
    is lost (or restored from a copy older than the first session), as the arm does: day 1
    ran with kit K101; a code list edited to give sub-demo kit K202 is one line, exit 2, at
    the next session. It ran, and participants.tsv then said K202, so unblinding would
    assign the participant the drug of a kit they never received (the run record keeps
    `arm: blinded` but not the code)."""
    codes = tmp_path / "codes.csv"
    codes.write_text("participant,code\ndemo,K101\n")
    data = tmp_path / "data"
    done = run(xvfb, data, KETAMINE, "demo", "infusion", "--codes", str(codes))
    assert done.returncode == 0, done.stderr
    (data / "participants.tsv").unlink()
    codes.write_text("participant,code\ndemo,K202\n")
    later = run(xvfb, data, KETAMINE, "demo", "exposure1", "--codes", str(codes))
    assert later.returncode == 2, later.stderr
    assert "K101" in later.stderr.strip().splitlines()[-1], later.stderr


def test_an_arm_edited_in_participants_tsv_cannot_move_the_participant(xvfb, tmp_path):
    """participants.tsv edited by hand (or merged from another site's copy) after day 1 to
    put sub-03 in another arm: day 2 is one line naming the run record that says which arm
    day 1 delivered, exit 2. It ran day 2 in the edited arm (a reminder the participant's
    arm never has), because participants.tsv is read first and the run records only when
    it names no arm."""
    data = tmp_path / "data"
    first = run(xvfb, data, RETEXT, "03", "day1")
    assert first.returncode == 0, first.stderr
    table = (data / "participants.tsv").read_text()
    assert "\tno_reminder\tno_reminder" in table
    (data / "participants.tsv").write_text(
        table.replace("\tno_reminder\tno_reminder", "\treminder_10min\treminder_10min")
    )
    later = run(xvfb, data, RETEXT, "03", "day2")
    assert later.returncode == 2, later.stderr
    assert "no_reminder" in later.stderr.strip().splitlines()[-1], later.stderr


@pytest.mark.parametrize("option", ["--codes", "--arm"])
def test_an_empty_codes_or_arm_option_is_one_line_not_ignored(xvfb, tmp_path, option):
    """`--codes ""` (a script's `--codes "$CODES"` with the variable unset) and `--arm ""`
    are one line, exit 2, before anything is written. Both were taken as not given: with
    --codes the blinded participant was assigned by number, the console printed
    `sub-demo: arm ketamine` to the experimenter and participants.tsv recorded the arm, so
    the blind was broken and the participant's later sessions refused the code list."""
    data = tmp_path / "data"
    done = run(xvfb, data, KETAMINE, "demo", "infusion", option, "")
    assert done.returncode == 2, done.stderr
    assert option in done.stderr.strip().splitlines()[-1], done.stderr
    assert "ketamine" not in done.stderr.replace(load_study(), "")
    assert not (data / "participants.tsv").exists()


def load_study() -> str:
    from pavlov.protocols import load_protocol

    return load_protocol(KETAMINE).study


def test_a_protocol_edit_cannot_swap_the_cs_pictures_between_sessions(xvfb, tmp_path):
    """The protocol edited between day 1 and day 2 so that sub-03's counterbalancing cell
    maps the roles to other pictures (here the two stimuli lines swapped; adding GS roles
    or a stimulus does the same, issue 12): day 2 is one line naming the CS+ picture day 1
    used, exit 2. Day 2 ran with the CS+ and CS- swapped (day 1: CS+ yellow; day 2: CS+
    blue), so the reminder and extinction were of the other picture, without a word."""
    protocol = tmp_path / "retrieval_extinction.yaml"
    protocol.write_text(RETEXT.read_text())
    data = tmp_path / "data"
    first = run(xvfb, data, protocol, "03", "day1")
    assert first.returncode == 0, first.stderr
    (record,) = data.glob("sub-03/ses-day1/*/*_session.json")
    day1 = json.loads(record.read_text())["cell"]["cs"]
    blue, yellow = (
        "    blue: {image: cs/blue_square.png}\n",
        "    yellow: {image: cs/yellow_square.png}\n",
    )
    text = protocol.read_text()
    assert blue + yellow in text
    protocol.write_text(text.replace(blue + yellow, yellow + blue))
    later = run(xvfb, data, protocol, "03", "day2")
    (record,) = list(data.glob("sub-03/ses-day2/*/*_session.json")) or [None]
    day2 = json.loads(record.read_text())["cell"]["cs"] if record else None
    assert later.returncode == 2, (later.stderr, day1, day2)
    assert day1["CS+"] in later.stderr.strip().splitlines()[-1], later.stderr
