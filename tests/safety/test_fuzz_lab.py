"""Fuzzed lab files (issue 6, item 3): every invalid lab file is rejected with the one-line
``path:line: key: expected X, got Y`` message; a valid one gives a LabConfig whose marker
codes never raise a shock line when shock and markers share a port.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from pavlov.task.devices.lab import LabConfig, LabFileError, load_lab

LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?:[^ ].*?: )?expected .+, got .+$")

LAB = """\
lab: MRI suite, room 2
shock:
  device: serial:/dev/ttyACM0@115200
  code: 1
trigger:
  device: serial:/dev/ttyUSB0@19200:5
markers:
  device: parallel:/dev/parport0
  pulse_width: 0.01
  codes:
    CSpr: 10
    USp: 20
"""
SHARED = """\
shock:
  device: parallel:/dev/parport0
  code: 1
markers:
  device: parallel:/dev/parport0
  codes:
    CSpr: 10
"""

device_texts = st.one_of(
    st.sampled_from(
        [
            "simulated",
            "serial:/dev/ttyACM0",
            "serial:/dev/ttyACM0@115200",
            "serial:/dev/ttyUSB0@19200:5",
            "parallel:0x378",
            "parallel:/dev/parport0",
            "labjack:FIO0",
            "lsl",
            "lsl:Markers",
            "key:5",
            "serial:",
            "serial:@@",
            "parallel:",
            "labjack:",
            "seral:/dev/x",
            "key:",
        ]
    ),
    st.text(max_size=20),
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-300, 300),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    device_texts,
    st.lists(st.integers(), max_size=3),
)
sections = st.dictionaries(
    st.sampled_from(["device", "code", "pulse_width", "codes", "devise", "baud"]),
    st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(["CSpr", "CSpu", "CSm", "USp", "USo", "rating", "CSx"]),
            values,
            max_size=4,
        ),
    ),
    max_size=4,
)
documents = st.dictionaries(
    st.sampled_from(["lab", "shock", "trigger", "markers", "shok", "extra"]),
    st.one_of(sections, values),
    max_size=4,
)


def check_lab_text(text: str | bytes) -> str:
    """Load ``text`` as a lab file; return 'ok' or 'rejected' (anything else fails)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lab.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        try:
            lab = load_lab(path)
        except LabFileError as error:
            message = str(error)
            assert "\n" not in message and LINE.match(message), message
            assert message.startswith(f"{path}:")
            return "rejected"
        assert isinstance(lab, LabConfig)
        shared = lab.shock is not None and lab.markers is not None
        if shared and lab.shock.same_port(lab.markers) and lab.shock.kind != "labjack":
            assert all(not code & lab.shock_code for code in lab.marker_codes.values())
        return "ok"


@given(documents)
def test_random_lab_documents_load_or_fail_in_one_line(document):
    """Random lab-shaped documents: a valid LabConfig or a one-line rejection."""
    check_lab_text(yaml.safe_dump(document, allow_unicode=True))


@given(st.sampled_from([LAB, SHARED]), st.data())
def test_mutated_lab_files_load_or_fail_in_one_line(text, data):
    """Lines deleted/duplicated, values replaced, junk inserted: never a traceback."""
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["delete", "duplicate", "value", "junk", "truncate"]))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "value" and ":" in lines[i]:
            head = lines[i].split(":", 1)[0]
            lines[i] = (
                f"{head}: {data.draw(st.sampled_from(['-1', '0', '256', '3', 'x', '[]', '1e9']))}"
            )
        elif kind == "junk":
            lines[i] += data.draw(st.text(max_size=6))
        elif kind == "truncate":
            lines = lines[: i + 1]
        if not lines:
            lines = [""]
    check_lab_text("\n".join(lines))


@given(st.binary(max_size=200))
def test_random_bytes_lab_files_are_rejected(blob):
    """Arbitrary bytes are rejected in one line."""
    assert check_lab_text(blob) == "rejected"


def test_shared_port_marker_code_with_shock_bit_is_rejected():
    """A marker code that would raise the shock line on a shared port is refused."""
    text = SHARED.replace("CSpr: 10", "CSpr: 11")
    assert check_lab_text(text) == "rejected"
    assert check_lab_text(SHARED) == "ok" and check_lab_text(LAB) == "ok"
