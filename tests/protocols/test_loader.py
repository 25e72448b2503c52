"""Strict protocol loading: valid files load; every mistake is one exact line."""

from __future__ import annotations

import re

import pytest

from pavlov.protocols.errors import ProtocolError, error_lines
from pavlov.protocols.loader import load_protocol
from pavlov.protocols.model import PulseTrain

#: (replace this, with this, the error line expected after "protocol.yaml:").
MISTAKES = [
    (
        "    reinforced: {CS+: 3}",
        "    reinforcd: {CS+: 3}",
        r"21: phases\.acquisition\.reinforcd: expected one of the keys .*, got unknown key "
        r"'reinforcd'\. Did you mean 'reinforced'\?",
    ),
    (
        "    trials: 8\n    reinforced",
        "    trials: eight\n    reinforced",
        r"20: phases\.acquisition\.trials: expected a number of trials per CS >= 1 and <= 1000, "
        r"got 'eight'",
    ),
    (
        "    cs_duration: 4\n    iti: {",
        "    cs_duration: -4\n    iti: {",
        r"22: phases\.acquisition\.cs_duration: expected seconds > 0 and <= 60, got -4",
    ),
    (
        "    cs_duration: 4\n    iti: 10",
        "    cs_duration: 0\n    iti: 10",
        r"27: phases\.extinction\.cs_duration: expected seconds > 0 and <= 60, got 0",
    ),
    (
        "seed: 7\n",
        "",
        r"1: seed: expected a seed \(a whole number\) >= 0 \(required\), got nothing",
    ),
    (
        "    cs_duration: 4\n    iti: {",
        "    cs_duration: 4\n    us_onset: 3.9\n    iti: {",
        r"23: phases\.acquisition\.us_onset: expected the US to end by the end of the CS "
        r"\(4 s; US 'shock' lasts 0\.182 s\), got a US ending at 4\.082 s",
    ),
    (
        "{CS+: 3}",
        "{CS+: 9}",
        r"21: phases\.acquisition\.reinforced\.CS\+: expected at most the CS\+ trial count \(8\), "
        r"got 9",
    ),
    (
        "{CS+: 3}",
        "{CS-: 3}",
        r"21: phases\.acquisition\.reinforced\.CS-: expected one of the keys CS\+, got unknown key "
        r"'CS-'\. Did you mean 'CS\+'\?",
    ),
    (
        "    trials: 8\n    cs_duration: 4\n    iti: 10",
        "    trials: 8\n    reinforced: {CS+: 1}\n    cs_duration: 4\n    iti: 10",
        r"27: phases\.extinction\.reinforced: expected no reinforced trials in a phase of type "
        r"extinction \(only in acquisition and generalisation\), got CS\+: 1",
    ),
    (
        "  acquisition:\n",
        "  extinction:\n",
        r"24: phases\.extinction: expected each key once, got it again \(first at line 18\)",
    ),
    (
        "phases: [acquisition, extinction]",
        "phases: [acquisition, extintion]",
        r"32: sessions\[0\]\.phases\[1\]: expected the name of a phase defined under phases, "
        r"got 'extintion'\. Did you mean 'extinction'\?",
    ),
    (
        "max_shocks: 6",
        "max_shocks: 2",
        r"30: sessions\.day1: expected at most safety\.max_shocks \(2\) shocks in a session, "
        r"got 3 scheduled shocks",
    ),
    (
        "max_train_duration: 0.5",
        "max_train_duration: 0.1",
        r"13: us\.shock\.train: expected a train no longer than safety\.max_train_duration "
        r"\(0\.1 s\), got 0\.182 s",
    ),
    (
        "cs/blue_square.png",
        "cs/blue_sqare.png",
        r"8: cs\.stimuli\.blue\.image: expected an existing image file \(looked beside the "
        r"protocol and in pavlov's stimuli\), got 'cs/blue_sqare\.png'\. "
        r"Did you mean 'cs/blue_square\.png'\?",
    ),
    (
        "  roles: [CS+, CS-]",
        "  roles: [CS+, CS-",
        r"\d+: expected valid YAML, got a syntax error \(.+\)",
    ),
    (
        "    type: acquisition",
        "    type: aquisition",
        r"19: phases\.acquisition\.type: expected one of habituation, .*, got 'aquisition'\. "
        r"Did you mean 'acquisition'\?",
    ),
    ("pavlov: 1", "pavlov: 2", r"1: pavlov: expected format version 1 \(this pavlov's\), got 2"),
    (
        "iti: {uniform: [8, 12]}",
        "iti: {uniform: [12, 8]}",
        r"23: phases\.acquisition\.iti\.uniform: expected \[low, high\] with high >= low \(12\), "
        r"got high 8",
    ),
    (
        "iti: {uniform: [8, 12]}",
        "iti: {trs: [4, 6]}",
        r"23: phases\.acquisition\.iti\.trs: expected seconds, uniform, choice or sequence "
        r"\(trs needs a scanner block with a TR\), got a list of 2",
    ),
    (
        "    trials: 8\n    reinforced",
        "    trials: {CS+: 8, CS-: 2}\n    reinforced",
        r"20: phases\.acquisition\.trials: expected trial counts that can keep max_run 2 \(at "
        r"most 6 trials of one CS with 2 others\), got 8 trials of one CS",
    ),
    (
        "    trials: 8\n    reinforced",
        "    trials: {CS+: 8}\n    reinforced",
        r"20: phases\.acquisition\.trials: expected a count for every CS role \(CS\+, CS-; 0 for "
        r"none\), got none for CS-",
    ),
    ("task: fear", "task: fear cond", r"3: task: expected a BIDS task label .*, got 'fear cond'"),
    (
        "roles: [CS+, CS-]",
        "roles: [CS+, CS+]",
        r"6: cs\.roles\[1\]: expected each role once, got 'CS\+' again",
    ),
    (
        "    type: shock\n",
        "    type: shock\n    volume: 0.5\n",
        r"13: us\.shock\.volume: expected one of the keys type, train, duration, got unknown key "
        r"'volume'",
    ),
    (
        "safety:\n  max_shocks: 6\n  max_train_duration: 0.5\n",
        "",
        r"1: safety: expected a mapping \(required\), got nothing",
    ),
    (
        '{shape: square, color: "#e8c800"}',
        '{shape: sqaure, color: "#e8c800"}',
        r"9: cs\.stimuli\.yellow\.shape: expected one of square, circle, triangle, diamond, "
        r"got 'sqaure'\. Did you mean 'square'\?",
    ),
    (
        "    type: shock\n    train: {pulse_width: 0.002, interval: 0.02, count: 10}\n",
        "    type: sound\n    file: us/noise_burst.wav\n    duration: 0.5\n    volume: 0\n",
        r"15: us\.shock\.volume: expected a volume > 0 and <= 1, got 0",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), MISTAKES, ids=[m[2][:40] for m in MISTAKES])
def test_mistake_gives_one_exact_line(write, minimal, edit, old, new, expected):
    """Each single mistake in a valid protocol gives its exact one-line message."""
    path = write(edit(minimal, old, new))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(re.escape(str(path)) + ":" + expected, message), message
    assert error_lines(caught.value) == [message]  # one mistake: one line, no consequences


def test_minimal_protocol_loads_with_its_values(write, minimal):
    """The fixture protocol loads, with defaults filled in (co-terminating US)."""
    protocol = load_protocol(write(minimal))
    assert protocol.cs_roles == ("CS+", "CS-")
    acquisition = protocol.phases["acquisition"].spec
    assert acquisition.trials == {"CS+": 8, "CS-": 8}
    assert acquisition.reinforced == {"CS+": 3}
    assert protocol.us["shock"].train == PulseTrain(0.002, 0.02, 10)
    assert acquisition.us_onset == pytest.approx(4 - 0.182)
    assert acquisition.constraints.first_reinforced is True
    assert protocol.phases["extinction"].spec.constraints.first_reinforced is False
    assert protocol.sessions[0].phases == ("acquisition", "extinction")
    assert len(protocol.sha256) == 64


def test_reinforcement_rate_rounds_half_up(write, minimal, edit):
    """A rate of 0.38 of 8 trials gives round(3.04) = 3 reinforced trials."""
    path = write(edit(minimal, "reinforced: {CS+: 3}", "reinforcement_rate: {CS+: 0.38}"))
    assert load_protocol(path).phases["acquisition"].spec.reinforced == {"CS+": 3}


def test_empty_file_is_one_line(write):
    """An empty file is rejected as such."""
    path = write("")
    with pytest.raises(
        ProtocolError, match=r":1: expected a protocol file \(a YAML mapping\), got an empty file$"
    ):
        load_protocol(path)


def test_comment_only_file_counts_as_empty(write):
    """A file of comments holds no document, so it is empty too."""
    with pytest.raises(ProtocolError, match=r"got an empty file$"):
        load_protocol(write("# nothing here\n"))


def test_binary_file_is_one_line(tmp_path):
    """A binary file is rejected before parsing."""
    path = tmp_path / "protocol.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(
        ProtocolError, match=r":1: expected a protocol file \(UTF-8 text\), got binary data$"
    ):
        load_protocol(path)


def test_non_utf8_file_names_its_line(tmp_path):
    """Latin-1 bytes are reported with the line they stand on."""
    path = tmp_path / "protocol.yaml"
    path.write_bytes(b"pavlov: 1\nstudy: caf\xe9\n")
    with pytest.raises(
        ProtocolError, match=r":2: expected UTF-8 text, got bytes that are not UTF-8$"
    ):
        load_protocol(path)


def test_directory_is_one_line(tmp_path):
    """A directory given as a protocol is rejected."""
    with pytest.raises(ProtocolError, match=r":1: expected a protocol file, got a directory$"):
        load_protocol(tmp_path)


def test_missing_file_is_one_line(tmp_path):
    """A path that does not exist is rejected."""
    with pytest.raises(
        ProtocolError, match=r"nope\.yaml:1: expected a protocol file, got no such file$"
    ):
        load_protocol(tmp_path / "nope.yaml")


def test_top_level_list_is_rejected(write):
    """A YAML list is not a protocol."""
    with pytest.raises(
        ProtocolError, match=r":1: expected a protocol file \(a YAML mapping\), got a list$"
    ):
        load_protocol(write("- a\n- b\n"))


def test_two_documents_are_rejected(write, minimal):
    """A second YAML document (---) would be silently ignored; it is an error."""
    with pytest.raises(ProtocolError, match=r":34: expected one YAML document, got 2 documents$"):
        load_protocol(write(minimal + "---\nstudy: other\n"))


def test_stimulus_that_is_not_an_image(write, minimal, edit, tmp_path):
    """A file named .png that is not an image is caught by its content."""
    (tmp_path / "fake.png").write_text("not an image")
    path = write(edit(minimal, "cs/blue_square.png", "fake.png"))
    with pytest.raises(
        ProtocolError,
        match=r":8: cs\.stimuli\.blue\.image: expected an image file, got a file that is not an "
        r"image \(PNG, JPEG, GIF, BMP or TIFF\)$",
    ):
        load_protocol(path)


def test_stimulus_beside_the_protocol_wins(write, minimal, edit, tmp_path):
    """A lab's own file beside the protocol is used before the bundled one of that name."""
    own = tmp_path / "cs" / "blue_square.png"
    own.parent.mkdir()
    own.write_bytes(_tiny_png())
    protocol = load_protocol(write(minimal))
    assert protocol.cs["blue"].file == str(own.resolve())


def test_participant_template_is_kept_for_later(write, minimal, edit):
    """A {participant} path is kept as written (checked per participant before a session)."""
    path = write(
        edit(minimal, "{image: cs/blue_square.png}", '{sound: "rec/{participant}_cue.wav"}')
    )
    assert load_protocol(path).cs["blue"].file == "rec/{participant}_cue.wav"


def test_unknown_placeholder_is_rejected(write, minimal, edit):
    """Only {participant} may be used as a placeholder."""
    path = write(edit(minimal, "{image: cs/blue_square.png}", '{sound: "rec/{subject}_cue.wav"}'))
    with pytest.raises(
        ProtocolError, match=r"expected a path whose only placeholder is \{participant\}"
    ):
        load_protocol(path)


def test_yaml_anchors_and_merges_are_supported(write, minimal, edit):
    """Anchors let phases share a rating block, as the bundled protocols do."""
    text = edit(
        minimal,
        "    iti: 10\n",
        "    iti: 10\n    rating: &r {scale: [1, 4], keys: ['1', '2', '3', '4'], window: 3}\n",
    )
    protocol = load_protocol(write(text))
    assert protocol.phases["extinction"].rating.keys == ("1", "2", "3", "4")


def test_sessions_default_to_one_session_of_all_phases(write, minimal):
    """Without a sessions list, one session runs every phase in file order."""
    text = minimal[: minimal.index("sessions:")]
    protocol = load_protocol(write(text))
    assert [(s.name, s.phases) for s in protocol.sessions] == [("1", ("acquisition", "extinction"))]


def _tiny_png() -> bytes:
    from pavlov.stimuli.generate import png_bytes

    return png_bytes(2, 2, lambda x, y: (255, 0, 0))


def test_explicit_zero_trials_of_a_role_is_allowed(write, minimal, edit):
    """A trials mapping naming every role, one with 0, loads with that role left out."""
    path = write(
        edit(
            minimal,
            "    trials: 8\n    cs_duration: 4\n    iti: 10",
            "    trials: {CS+: 2, CS-: 0}\n    cs_duration: 4\n    iti: 10",
        )
    )
    assert load_protocol(path).phases["extinction"].spec.trials == {"CS+": 2, "CS-": 0}
