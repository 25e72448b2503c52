"""Shared fixtures for the analysis tests: synthetic BIDS logs and the shared datasets.

Synthetic logs follow ``task/LOG.md`` column for column (``n/a`` for missing values). The
real datasets are found by ``testdata.dataset`` (shipped in ``tests/data/`` where their
licence allows, else ``../shared/datasets`` beside the checkout) and converted here, in code,
into pavlov's trial-table format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pavlov.task.log import COLUMNS
from testdata import dataset

#: events.tsv columns exactly as the runner writes them (task/LOG.md), so a change of the
#: log format that the analysis does not follow fails here.
LOG_COLUMNS = COLUMNS


def make_events(phases, *, cs_duration=6.0, us_onset=5.5, iti=10.0, ratings=None, seed=0):
    """Events rows of one run.

    ``phases`` is a list of (name, type, trials) where trials is a list of
    (cs role, reinforced, online rating or None). ``ratings`` maps a phase name to the
    post-phase ratings {cs role: value or None} logged after it.
    """
    rng = np.random.default_rng(seed)
    stimuli = {"CS+": "blue", "CS-": "yellow", "CS+R": "red", "CS+NR": "green"}
    rows = [{"onset": 0.0, "duration": 5.0, "trial_type": "instructions"}]
    t = 10.0
    for name, kind, trials in phases:
        for index, (role, reinforced, rating) in enumerate(trials, start=1):
            cs_type = "CS+" if role.startswith("CS+") else "CS-"
            label = "CSm" if cs_type == "CS-" else ("CSpr" if reinforced else "CSpu")
            error = float(rng.uniform(0, 0.002))
            common = {
                "phase": name,
                "phase_type": kind,
                "trial": index,
                "cs": role,
                "cs_type": cs_type,
                "stimulus": stimuli.get(role, role),
                "reinforced": int(reinforced),
                "context": "A",
            }
            rows.append(
                {
                    "onset": t + error,
                    "duration": cs_duration,
                    "trial_type": "cs",
                    "event_type": label,
                    **common,
                    "rating": rating,
                    "rating_rt": None if rating is None else 1.2,
                    "planned_onset": t,
                    "onset_error": error,
                    "iti": iti,
                    "stim_file": f"cs/{stimuli.get(role, role)}.png",
                }
            )
            outcome = "USp" if reinforced else ("USo" if cs_type == "CS+" else "USm")
            rows.append(
                {
                    "onset": t + us_onset,
                    "duration": 0.5 if reinforced else 0.0,
                    "trial_type": "us",
                    "event_type": outcome,
                    **common,
                    "us": "shock" if reinforced else None,
                    "planned_onset": t + us_onset,
                    "value": "0.0;0.01;0.02" if reinforced else None,
                }
            )
            t += cs_duration + iti
        for number, (role, value) in enumerate((ratings or {}).get(name, {}).items(), start=1):
            rows.append(
                {
                    "onset": t,
                    "duration": 3.0,
                    "trial_type": "rating",
                    "phase": f"{name}_rating",
                    "phase_type": "rating",
                    "trial": number,
                    "cs": role,
                    "cs_type": "CS+" if role.startswith("CS+") else "CS-",
                    "stimulus": stimuli.get(role, role),
                    "rating": value,
                    "rating_rt": None if value is None else 2.0,
                }
            )
            t += 4.0
    return rows


def write_log(root, participant, rows, *, session="1", run=1, task="fear", sidecar=None):
    """Write rows as ``sub-<p>/ses-<s>/beh/..._events.tsv`` (+ session.json); return the path."""
    folder = Path(root) / f"sub-{participant}"
    stem = f"sub-{participant}"
    if session:
        folder = folder / f"ses-{session}"
        stem += f"_ses-{session}"
    folder = folder / "beh"
    folder.mkdir(parents=True, exist_ok=True)
    stem += f"_task-{task}" + (f"_run-{run}" if run else "")
    lines = ["\t".join(LOG_COLUMNS)]
    for row in rows:
        cells = []
        for column in LOG_COLUMNS:
            value = row.get(column)
            cells.append("n/a" if value is None or value == "" else str(value))
        lines.append("\t".join(cells))
    path = folder / f"{stem}_events.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if sidecar is not None:
        (folder / f"{stem}_session.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path


def design(n_acq=4, n_ext=4, n_test=2, learner=1.0, missing=()):
    """A three-phase design with online ratings: CS+ rated 8*learner, CS- 2 (None at
    the (phase, trial) pairs in ``missing``)."""

    def trials(phase, n, reinforced):
        out = []
        for i in range(n):
            for j, role in enumerate(("CS+", "CS-")):
                number = 2 * i + j + 1
                value = (8.0 * learner if role == "CS+" else 2.0) if phase != "extinction" else 3.0
                if phase == "extinction" and role == "CS+":
                    value = 3.0 + (n - i) * 0.5
                rating = None if (phase, number) in missing else value
                out.append((role, reinforced and role == "CS+" and i % 2 == 0, rating))
        return out

    return [
        ("acquisition", "acquisition", trials("acquisition", n_acq, True)),
        ("extinction", "extinction", trials("extinction", n_ext, False)),
        ("recall", "recall", trials("recall", n_test, False)),
    ]


@pytest.fixture
def bids_data(tmp_path):
    """A data folder: participants 1, 2, 10 (groups drug/placebo), participant 1 with two
    sessions (day1, day2), an n/a rating, a post-phase rating and sidecars."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "test"}')
    (root / "participants.tsv").write_text(
        "participant_id\tgroup\tage\nsub-1\tdrug\t30\nsub-2\tplacebo\tn/a\nsub-10\tplacebo\t25\n"
    )
    phases = design(missing={("acquisition", 3)})
    day1 = phases[:2]
    day2 = [phases[2]]
    meta = {"pavlov_version": "0.1.0", "protocol_sha256": "abc", "devices": {"shock": "simulated"}}
    write_log(
        root,
        "1",
        make_events(day1, ratings={"extinction": {"CS+": 4, "CS-": None}}),
        session="day1",
        sidecar={**meta, "started": "2026-01-01T10:00:00", "end_reason": "completed"},
    )
    write_log(
        root,
        "1",
        make_events(day2),
        session="day2",
        sidecar={**meta, "started": "2026-01-02T10:00:00", "end_reason": "completed"},
    )
    for participant, learner in (("2", 0.2), ("10", 1.0)):
        write_log(
            root,
            participant,
            make_events(design(learner=learner)),
            session="day1",
            sidecar={**meta, "started": "2026-01-01T12:00:00", "end_reason": "completed"},
        )
    return root


@pytest.fixture(scope="session")
def abend_xlsx():
    """The Abend et al. 2022 workbook (sheets KEY, DATA, DEMOGRAPHICS)."""
    path = dataset("abend2022/modeling_data_upload.xlsx")
    return pd.read_excel(path, sheet_name=None)


@pytest.fixture(scope="session")
def abend_table(abend_xlsx, tmp_path_factory):
    """Abend 2022 as a pavlov trial table (response = √CS_SCR, us_scr = UCS_SCR, group =
    diagnosis); returns the CSV path."""
    data = abend_xlsx["DATA"]
    demo = abend_xlsx["DEMOGRAPHICS"]
    table = pd.DataFrame(
        {
            "participant": data["SubjectID"].astype(str),
            "phase": data["Phase"],
            "trial": data["Trial"],
            "cs_type": data["CS type"],
            "us": data["UCS_SCR"].notna().astype(int),
            "response": np.sqrt(data["CS_SCR"]),
            "us_scr": data["UCS_SCR"],
            "group": data["SubjectID"].map(dict(zip(demo["SubjectID"], demo["Diagnosis"]))),
        }
    )
    path = tmp_path_factory.mktemp("abend") / "abend.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def youth_table(tmp_path_factory):
    """A synthetic trial table shaped like Abend et al. 2022's (22 "Healthy youth" and 16
    "Anxious youth"; 4, 10 and 8 trials per CS in Pre-conditioning, Conditioning (CS+
    reinforced on 8 of 10) and Extinction, in a random order per participant; √SCR
    responses with a CS+ > CS− effect in Conditioning; US responses on reinforced
    trials), for the tests of behaviour that need no published number: they run on CI,
    where the workbook itself cannot be shipped. Returns the CSV path."""
    rng = np.random.default_rng(2022)
    phases = (("Pre-conditioning", 4, 1), ("Conditioning", 10, 9), ("Extinction", 8, 1))
    rows = []
    for subject in range(1, 39):
        group = "Healthy youth" if subject <= 22 else "Anxious youth"
        for phase, per_cs, first in phases:
            order = rng.permutation(np.repeat(["CS+", "CS-"], per_cs))
            plus_trials = np.flatnonzero(order == "CS+")
            reinforced = set()
            if phase == "Conditioning":
                reinforced = set(rng.choice(plus_trials, size=8, replace=False))
            for k, cs_type in enumerate(order):
                effect = 0.3 if phase == "Conditioning" and cs_type == "CS+" else 0.0
                us = int(k in reinforced)
                rows.append(
                    {
                        "participant": str(subject),
                        "phase": phase,
                        "trial": first + k,
                        "cs_type": cs_type,
                        "us": us,
                        "response": max(0.0, 0.3 + effect + rng.normal(0, 0.2)),
                        "us_scr": abs(rng.normal(1.0, 0.5)) if us else np.nan,
                        "group": group,
                    }
                )
    path = tmp_path_factory.mktemp("youth") / "youth.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


REACTEXT_ROLES = {"CSplusR": "CS+R", "CSplusNR": "CS+NR", "Csminus": "CS-", "CSplusACQ": "CS+ACQ"}


@pytest.fixture(scope="session")
def reactext_table(tmp_path_factory):
    """ReactExtMRI SCR (wide) as a long trial table with a ``cs`` role column.

    The within-phase presentation order is not in the data, so trial numbers interleave
    the CSs (t1 of each CS, then t2, ...). Acquisition CS+ and day-2 CS+ACQ trials are
    marked reinforced (SOURCE.md: the task script reinforces them). Participants with no
    SCR at all are left out, as are CS × phase cells that nobody has.
    """
    wide = pd.read_csv(dataset("reactext/SCR.csv"))
    long = wide.melt(id_vars="pID", var_name="column", value_name="response")
    parts = long["column"].str.extract(r"(.*)_(.*)_t(\d+)")
    long["cs"] = parts[0].map(REACTEXT_ROLES)
    long["phase"] = parts[1]
    long["t"] = parts[2].astype(int)
    present = long.groupby(["cs", "phase"])["response"].transform(lambda v: v.notna().any())
    has_data = long.groupby("pID")["response"].transform(lambda v: v.notna().any())
    long = long[present & has_data].copy()
    role_index = {role: i for i, role in enumerate(REACTEXT_ROLES.values())}
    long["trial"] = (long["t"] - 1) * 4 + long["cs"].map(role_index) + 1
    long["cs_type"] = np.where(long["cs"].str.startswith("CS+"), "CS+", "CS-")
    reinforced = (long["phase"] == "ACQ") & long["cs"].isin(["CS+R", "CS+NR"])
    reinforced |= long["cs"] == "CS+ACQ"
    long["us"] = reinforced.astype(int)
    phase_order = {"ACQ": 0, "REACT": 1, "EXT": 2, "EXT-RE": 3, "REN": 4}
    long = long.sort_values(
        ["pID", "phase", "trial"], key=lambda c: c.map(phase_order) if c.name == "phase" else c
    )
    table = long.rename(columns={"pID": "participant"})[
        ["participant", "phase", "trial", "cs", "cs_type", "us", "response"]
    ]
    path = tmp_path_factory.mktemp("reactext") / "reactext_scr.tsv"
    table.to_csv(path, sep="\t", index=False, na_rep="n/a")
    return path


HOMAN_PAPER_IDS = [
    "RV001",
    "RV004",
    "RV005",
    "RV008",
    "RV010",
    "RV016",
    "RV021",
    "RV026",
    "RV027",
    "RV030",
    "RV032",
    "RV038",
    "RV043",
    "RV047",
    "RV048",
    "RV053",
    "RV055",
    "RV056",
    "RV059",
    "RV062",
    "RV063",
    "RV065",
    "RV066",
    "RV071",
    "RV072",
    "RV073",
    "RV081",
    "RV082",
    "RV083",
    "RV085",
    "RV086",
    "RV087",
    "RV102",
    "RV103",
    "RV1205",
    "RV1207",
    "RV132",
    "RV144",
    "RV148",
    "RV160",
    "RV165",
    "RV166",
    "RV169",
    "RV177",
    "RV178",
    "RV179",
    "RV182",
    "RV183",
    "RV184",
    "RV186",
    "RV188",
    "RV203",
    "RV204",
    "RV205",
]


@pytest.fixture(scope="session")
def homan_table(tmp_path_factory):
    """Homan 2019 reversal data as a trial table: roles follow the current contingency
    (face B is CS+ in reversal), ``stimulus`` keeps the face, response = ``scrsqrtrc``.
    Returns ``path``, the ``raw`` frame and the paper's 54 IDs (``paper_ids``)."""
    raw = pd.read_csv(dataset("homan2019/ptsd_scr.csv"))
    face = np.where(raw["stim"].str.startswith("CSplus"), "faceA", "faceB")
    reversal = raw["stage"] == "Reversal"
    threat = np.where(reversal, face == "faceB", face == "faceA")
    table = pd.DataFrame(
        {
            "participant": raw["id"],
            "phase": raw["stage"],
            "trial": np.where(reversal, raw["trial"] - 30, raw["trial"]),
            "cs_type": np.where(threat, "CS+", "CS-"),
            "stimulus": face,
            "us": raw["stim"].str.endswith("US").astype(int),
            "response": raw["scrsqrtrc"],
            "group": raw["order"],
        }
    )
    path = tmp_path_factory.mktemp("homan") / "homan.csv"
    table.to_csv(path, index=False)
    from types import SimpleNamespace

    return SimpleNamespace(path=path, raw=raw, paper_ids=HOMAN_PAPER_IDS)


def lines_of(path: Path) -> list[str]:
    """The lines of a text file."""
    return Path(path).read_text(encoding="utf-8").splitlines()


@pytest.fixture
def logs():
    """The log-writing helpers (conftest modules are not importable from tests)."""
    from types import SimpleNamespace

    return SimpleNamespace(make_events=make_events, write_log=write_log, design=design)


# --- simulated sessions from the real runner (fast path) and a synthetic SCR recording ---

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def simulate_run(root, protocol_name, participant, session, *, speed=5.0, seed=1, replay=False):
    """Play a bundled protocol's session with the runner's fast path (recording display,
    frame clock, simulated devices and participant) into ``root`` as ``pavlov run`` lays it
    out (task/LOG.md), with a provenance sidecar holding the protocol text and, for a
    protocol with arms, the participant's arm (by number) in participants.tsv as
    ``pavlov run`` writes it; return the ``RunPaths``. ``replay``: the participant is the
    one ``pavlov run --simulate`` plays (seeded by the schedule, having learnt the earlier
    sessions) instead of a fresh one seeded by ``seed``."""
    from fast_session import run_fast

    from pavlov.protocols import build_schedule, load_protocol
    from pavlov.protocols.arms import choose_arm
    from pavlov.task.log import EventLog, run_paths, write_events_json
    from pavlov.task.run_cli import _arm_columns
    from pavlov.task.sidecar import SessionRecord, add_participant, write_dataset_description
    from pavlov.task.simulated_participant import SimulatedParticipant

    protocol = choose_arm(load_protocol(PROTOCOLS / f"{protocol_name}.yaml"), participant)
    schedule = build_schedule(protocol, participant, session)
    scanner = protocol.scanner if protocol.session(session).scanner else None
    paths = run_paths(root, participant, session, protocol.task, 1, scanner is not None)
    paths.directory.mkdir(parents=True, exist_ok=True)
    write_dataset_description(root, protocol.study)
    add_participant(root, participant, _arm_columns(protocol, schedule, None))
    record = SessionRecord.create(
        paths.session_json,
        {
            "pavlov_version": "test",
            "protocol_path": protocol.path,
            "protocol_sha256": protocol.sha256,
            "protocol_text": protocol.text,
            "study": protocol.study,
            "task": protocol.task,
            "participant": participant,
            "session": session,
            "run": 1,
            "seed": schedule.seed,
            "refresh_rate": 60.0,
            "devices": {"shock": "simulated", "markers": "simulated"},
            "shock_intensity_ma": 2.5,
            "simulate": True,
            "speed": speed,
            "started": "2026-03-01T10:00:00",
            "end_reason": "running",
            "resumes": [],
        },
    )
    write_events_json(paths.events_json)
    responder = SimulatedParticipant(seed, speed)
    if replay:
        from pavlov.task.simulate import learner_for

        responder = learner_for(protocol, schedule, None)
        responder.speed = speed
    log = EventLog.create(paths.events)
    try:
        run = run_fast(
            protocol,
            session,
            participant,
            speed=speed,
            log=log,
            record=record,
            responder=responder,
            stimuli=True,
        )
    finally:
        log.close()
    if run.error is not None:
        raise run.error
    return paths


def scr_kernel(t, latency=1.5, rise=0.75, decay=2.0):
    """Bi-exponential SCR shape starting ``latency`` s after the event, peak 1 µS."""
    s = np.clip(np.asarray(t, dtype=float) - latency, 0.0, None)
    shape = np.exp(-s / decay) - np.exp(-s / rise)
    peak = rise * decay / (decay - rise) * np.log(decay / rise)
    return shape / (np.exp(-peak / decay) - np.exp(-peak / rise))


def synthesize_scr(events, *, fs=100.0, start=-5.0, cs_plus=0.5, cs_minus=0.1, us=1.0, seed=0):
    """A skin-conductance trace for a logged run: tonic level with a slow drift, an SCR after
    every CS onset (``cs_plus`` µS on CS+ in acquisition, falling over extinction, ``cs_minus``
    on CS-, 0.2 on habituation trials), an SCR of ``us`` µS after every delivered US, and
    white noise. Returns (samples, start time)."""
    rng = np.random.default_rng(seed)
    end = float(events["onset"].max()) + 30.0
    time = start + np.arange(int((end - start) * fs)) / fs
    sc = 5.0 + 0.4 * np.sin(2 * np.pi * time / 600.0)
    cs = events[events["trial_type"] == "cs"]
    for _, row in cs.iterrows():
        kind = row["phase_type"]
        if kind == "habituation":
            amplitude = 0.2
        elif row["cs_type"] == "CS-":
            amplitude = cs_minus
        elif kind == "extinction":
            amplitude = cs_plus * max(0.2, 1.0 - 0.08 * (float(row["trial"]) - 1))
        else:
            amplitude = cs_plus
        amplitude *= rng.uniform(0.8, 1.2)
        sc += amplitude * scr_kernel(time - float(row["onset"]))
    delivered = events[(events["trial_type"] == "us") & (events["event_type"] == "USp")]
    for onset in delivered["onset"].astype(float):
        sc += us * rng.uniform(0.8, 1.2) * scr_kernel(time - onset, latency=1.2)
    sc += rng.normal(0.0, 0.003, time.size)
    return sc, start


@pytest.fixture(scope="session")
def simulate():
    """The runner-session and SCR synthesis helpers (``run``, ``scr``, ``kernel``)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        run=simulate_run, scr=synthesize_scr, kernel=scr_kernel, protocols=PROTOCOLS
    )
