"""Lab files: valid ones load, mistakes are one line with file, line, key and a suggestion."""

from __future__ import annotations

import textwrap

import pytest

from pavlov.task.devices.codes import DEFAULT_MARKER_CODES, marker_code
from pavlov.task.devices.lab import LabFileError, load_lab
from pavlov.task.devices.spec import DeviceSpec, build_devices


def _write(tmp_path, text):
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_full_lab_file(tmp_path):
    """Every section is read into the config."""
    path = _write(
        tmp_path,
        """\
        lab: MRI room 2
        shock:
          device: serial:/dev/ttyACM0@115200
          code: 2
        trigger:
          device: serial:/dev/ttyUSB0@19200:5
        markers:
          device: parallel:/dev/parport0
          pulse_width: 0.005
          codes:
            CSpr: 100
            USo: 0
        """,
    )
    lab = load_lab(path)
    assert lab.name == "MRI room 2"
    assert lab.shock == DeviceSpec("serial", "/dev/ttyACM0", 115200)
    assert lab.shock_code == 2
    assert lab.trigger == DeviceSpec("serial", "/dev/ttyUSB0", 19200, "5")
    assert lab.markers == DeviceSpec("parallel", "/dev/parport0")
    assert lab.marker_width == 0.005
    assert lab.marker_codes["CSpr"] == 100
    assert marker_code(lab.marker_codes, "USo") is None
    assert lab.marker_codes["CSm"] == DEFAULT_MARKER_CODES["CSm"]


def test_empty_sections_default_to_simulated(tmp_path, fake_clock):
    """A lab file naming only markers leaves the shock simulated."""
    lab = load_lab(_write(tmp_path, "markers:\n  device: simulated\n"))
    assert lab.shock is None
    devices = build_devices(lab=lab, clock=fake_clock)
    assert devices.describe()["shock"] == "simulated"
    assert devices.describe()["lab_file"] == str(tmp_path / "lab.yaml")


def test_command_line_overrides_lab(tmp_path, fake_clock):
    """--shock simulated wins over the lab file's real device."""
    lab = load_lab(_write(tmp_path, "shock:\n  device: serial:/dev/nonexistent\n"))
    devices = build_devices(shock="simulated", lab=lab, clock=fake_clock)
    assert devices.describe()["shock"] == "simulated"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "shok:\n  device: simulated\n",
            r"lab.yaml:1: shok: expected one of the keys .*Did you mean 'shock'\?",
        ),
        (
            "shock:\n  device: seril:/dev/x\n",
            r"lab.yaml:2: shock.device: expected simulated \| serial.*got 'seril:/dev/x'"
            r".*Did you mean 'serial'\?",
        ),
        ("shock:\n  code: 1\n", r"lab.yaml:2: shock.device: expected .*\(required\), got nothing"),
        (
            "shock:\n  device: simulated\n  code: 300\n",
            r"lab.yaml:3: shock.code: expected .*<= 255, got 300",
        ),
        (
            "markers:\n  device: lsl\n  codes:\n    CSplus: 3\n",
            r"lab.yaml:4: markers.codes.CSplus: .*Did you mean 'CSpu'\?",
        ),
        (
            "markers:\n  device: lsl\n  pulse_width: 0\n",
            r"lab.yaml:3: markers.pulse_width: expected seconds > 0",
        ),
        (
            "trigger:\n  device: serial:/dev/ttyUSB0\n",
            r"lab.yaml:2: trigger.device: .*one character sent per volume",
        ),
        (
            "shock:\n  device: serial:/dev/x\n"
            "markers:\n  device: serial:/dev/x\n  codes:\n    CSm: 3\n",
            r"lab.yaml:6: markers.codes.CSm: expected marker codes without the shock bits \(1\)",
        ),
        ("- a\n", r"lab.yaml:1: expected a lab file \(a YAML mapping\), got a list"),
    ],
)
def test_lab_errors(tmp_path, text, match):
    """Each mistake is one line: path:line: key: expected X, got Y[. Did you mean 'Z'?]."""
    path = _write(tmp_path, text)
    with pytest.raises(LabFileError, match=match) as info:
        load_lab(path)
    assert "\n" not in str(info.value)


def test_missing_lab_file(tmp_path):
    """A missing file is one line naming it."""
    with pytest.raises(LabFileError, match="no such file"):
        load_lab(tmp_path / "nope.yaml")


def test_reserved_key_trigger_in_a_lab_file_is_rejected(tmp_path):
    """A lab file's `trigger.device: key:escape` is one line naming the key as reserved."""
    from pavlov.task.devices.lab import LabFileError, load_lab

    path = tmp_path / "lab.yaml"
    path.write_text("trigger:\n  device: key:escape\n")
    with pytest.raises(LabFileError, match=r"lab.yaml:2: trigger.device: .*reserved"):
        load_lab(path)
