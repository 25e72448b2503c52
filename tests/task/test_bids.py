"""The data folder of simulated sessions is a valid BIDS dataset: the official validator
(bids-validator-deno) reports 0 errors for every bundled protocol, HED tags validate under
hedtools, presented stimuli are in ``stimuli/``, and the analysis still reads it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from bids_validator import errors, validate

from pavlov.protocols import load_protocol
from pavlov.task import bids

BUNDLED = sorted((Path(__file__).resolve().parents[2] / "protocols").glob("*.yaml"))

pytestmark = pytest.mark.display


@pytest.mark.parametrize(
    "name",
    [
        "aversive_pavlovian_fmri",  # the README's demo protocol (func/, scanner pulses)
        "fear_extinction_recall",
        "ketamine_reconsolidation",
        "retrieval_extinction",
        "trace_conditioning",  # a sound US (stim_file on us rows), USs after the CS
    ],
)
def test_simulated_dataset_passes_the_bids_validator(simulated_datasets, name):
    """Every session of the protocol, simulated into one data folder: 0 validator errors,
    and no warning about missing README, StimulusPresentation or HED."""
    root = simulated_datasets[name]
    assert errors(root) == []
    codes = {i["code"] for i in validate(root)}
    assert "README_FILE_MISSING" not in codes
    assert not any(
        i.get("subCode") in ("StimulusPresentation", "HEDVersion") for i in validate(root)
    )


def test_dataset_with_imported_physio_passes(simulated_datasets, tmp_path):
    """A run with a recording imported beside its log (physio.tsv.gz + json with the clock
    fit) still passes with 0 errors."""
    from physio_recordings import read_log, synthesize, write_csv

    from pavlov.analysis.physio_import import import_physio, write_imported

    root = tmp_path / "data"
    shutil.copytree(  # without run --simulate's own simulated recordings
        simulated_datasets["retrieval_extinction"],
        root,
        ignore=shutil.ignore_patterns("*_physio.tsv.gz", "*_physio.json"),
    )
    (events,) = root.glob("sub-demo/ses-day1/beh/*_events.tsv")
    syn = synthesize(read_log(events), rate=100.0)
    write_imported(import_physio(write_csv(syn, tmp_path / "r.csv"), events, sampling_rate=100.0))
    assert list(events.parent.glob("*_recording-scr_physio.json"))
    assert errors(root) == []


def test_hed_annotations_valid_under_hedtools(simulated_datasets):
    """Each run's events.tsv with its events.json validates under hedtools (the schema
    version named in dataset_description.json), and every level the logs use is tagged."""
    from hed.models import Sidecar, TabularInput
    from hed.schema import load_schema_version

    checked = 0
    for root in simulated_datasets.values():
        version = json.loads((root / "dataset_description.json").read_text())["HEDVersion"]
        schema = load_schema_version(version)
        for events in root.glob("sub-*/ses-*/*/*_events.tsv"):
            sidecar_path = events.with_name(events.name.replace(".tsv", ".json"))
            sidecar = Sidecar(str(sidecar_path))
            assert sidecar.validate(schema) == []
            assert TabularInput(str(events), sidecar=sidecar).validate(schema) == []
            log = pd.read_csv(events, sep="\t", keep_default_na=False)
            meta = json.loads(sidecar_path.read_text())
            assert set(log.trial_type) <= set(meta["trial_type"]["HED"])
            assert set(log.event_type) - {"n/a"} <= set(meta["event_type"]["HED"])
            checked += 1
    # every session of every bundled protocol (a sound-US trace study included)
    assert checked == sum(len(load_protocol(p).sessions) for p in BUNDLED) == 15


def test_stimuli_copied_and_dataset_files(simulated_datasets):
    """Every stim_file named in a log is a file under stimuli/; .bidsignore lists pavlov's
    own files; README and StimulusPresentation are written."""
    for root in simulated_datasets.values():
        for events in root.glob("sub-*/ses-*/*/*_events.tsv"):
            log = pd.read_csv(events, sep="\t", keep_default_na=False)
            for name in set(log.stim_file) - {"n/a"}:
                assert (root / "stimuli" / name).is_file(), name
            meta = json.loads(events.with_name(events.name.replace(".tsv", ".json")).read_text())
            presentation = meta["StimulusPresentation"]
            assert presentation["SoftwareName"].startswith("pavlov")
            assert presentation["ScreenRefreshRate"] > 0
        assert set(bids.BIDSIGNORE) <= set((root / ".bidsignore").read_text().split())
        assert "recorded with pavlov" in (root / "README").read_text()


def test_analysis_reads_the_dataset(simulated_datasets):
    """The analysis loads the trials of the whole data folder (stimuli/ and README beside the
    subjects do not confuse it)."""
    from pavlov.analysis.load import load_trials

    trials = load_trials(simulated_datasets["fear_extinction_recall"])
    assert set(trials.session) == {"day1", "day2"} and len(trials) > 0


def test_dataset_files_never_overwritten(tmp_path):
    """README is created once; .bidsignore gains missing patterns and keeps the lab's own;
    existing description keys (Authors, a lab's HEDVersion) are kept."""
    (tmp_path / "README").write_text("ours\n")
    (tmp_path / ".bidsignore").write_text("notes/\n")
    (tmp_path / "dataset_description.json").write_text(
        json.dumps({"Name": "x", "BIDSVersion": "1.9.0", "Authors": ["A. Lab"]})
    )
    bids.write_readme(tmp_path, "study", "task")
    bids.ensure_bidsignore(tmp_path)
    bids.update_description(tmp_path, ["Someone Else"], "CC0")
    assert (tmp_path / "README").read_text() == "ours\n"
    assert (tmp_path / ".bidsignore").read_text().split()[0] == "notes/"
    description = json.loads((tmp_path / "dataset_description.json").read_text())
    assert description["Authors"] == ["A. Lab"]
    assert description["License"] == "CC0" and description["HEDVersion"] == bids.HED_VERSION


def test_stimulus_of_another_content_is_not_overwritten(tmp_path):
    """A stimuli/ file of the same name but other content stays, and is reported."""
    source = tmp_path / "a.png"
    source.write_bytes(b"new")
    (tmp_path / "data" / "stimuli" / "cs").mkdir(parents=True)
    (tmp_path / "data" / "stimuli" / "cs" / "a.png").write_bytes(b"old")
    left = bids.copy_stimuli(tmp_path / "data", {"cs/a.png": source, "/abs/b.png": source})
    assert left == ["cs/a.png", "/abs/b.png"]
    assert (tmp_path / "data" / "stimuli" / "cs" / "a.png").read_bytes() == b"old"


def test_protocol_authors_and_license_reach_the_dataset(tmp_path):
    """A protocol's optional `authors` and `license` become dataset_description's Authors and
    License; a single name instead of a list is one error line naming the key."""
    from pavlov.protocols import load_protocol
    from pavlov.protocols.errors import ProtocolError
    from pavlov.stimuli.check import SessionStimuli

    source = Path(__file__).resolve().parents[2] / "protocols" / "fear_extinction_recall.yaml"
    text = source.read_text().replace(
        "seed:", "authors: [A. Researcher, B. Student]\nlicense: CC0\nseed:", 1
    )
    path = tmp_path / "study.yaml"
    path.write_text(text)
    protocol = load_protocol(path)
    assert protocol.authors == ("A. Researcher", "B. Student") and protocol.license == "CC0"
    root = tmp_path / "data"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    bids.prepare_dataset(root, protocol, SessionStimuli({}, {}, {}, {}, tmp_path))
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["Authors"] == ["A. Researcher", "B. Student"]
    assert description["License"] == "CC0"
    path.write_text(source.read_text().replace("seed:", "authors: Smith\nseed:", 1))
    with pytest.raises(ProtocolError, match="authors: expected a list of author names"):
        load_protocol(path)
