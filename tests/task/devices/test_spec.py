"""Parsing --shock/--trigger/--markers and building the device set."""

from __future__ import annotations

import pytest

from pavlov.task.devices.safety import guard_shock
from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedScanner, SimulatedShock
from pavlov.task.devices.spec import DeviceSpec, SpecError, build_devices, parse_spec


@pytest.mark.parametrize(
    ("role", "text", "expected"),
    [
        ("shock", "simulated", DeviceSpec("simulated")),
        ("shock", "serial:/dev/ttyACM0", DeviceSpec("serial", "/dev/ttyACM0")),
        ("shock", "serial:/dev/ttyACM0@9600", DeviceSpec("serial", "/dev/ttyACM0", 9600)),
        ("shock", "parallel:/dev/parport0", DeviceSpec("parallel", "/dev/parport0")),
        ("shock", "labjack:fio4", DeviceSpec("labjack", "FIO4")),
        ("trigger", "key:5", DeviceSpec("key", "5")),
        (
            "trigger",
            "serial:/dev/ttyUSB0@19200:5",
            DeviceSpec("serial", "/dev/ttyUSB0", 19200, "5"),
        ),
        ("trigger", "serial:COM3:t", DeviceSpec("serial", "COM3", None, "t")),
        ("markers", "lsl", DeviceSpec("lsl")),
        ("markers", "lsl:biopac", DeviceSpec("lsl", "biopac")),
    ],
)
def test_parse_valid(role, text, expected):
    """Every documented form parses, and prints back as written."""
    spec = parse_spec(role, text)
    assert spec == expected
    assert parse_spec(role, str(spec)) == spec


@pytest.mark.parametrize(
    ("role", "text", "match"),
    [
        (
            "shock",
            "seriall:/dev/x",
            r"--shock: expected simulated, serial:PATH\[@BAUD\].*Did you mean 'serial'",
        ),
        ("shock", "key:5", "--shock: expected"),
        ("shock", "lsl", "--shock: expected"),
        ("shock", "serial:", "needs a value"),
        ("shock", "serial:/dev/x@fast", "baud must be a positive whole number"),
        ("shock", "parallel:0x378", "device node such as /dev/parport0"),
        ("shock", "labjack:FIO9", "FIO0-7"),
        ("trigger", "serial:/dev/ttyUSB0", "one character sent per volume"),
        ("markers", "simulated:x", "takes no argument"),
    ],
)
def test_parse_errors_one_line(role, text, match):
    """Bad specs give one line listing the allowed forms."""
    with pytest.raises(SpecError, match=match) as info:
        parse_spec(role, text)
    assert "\n" not in str(info.value)
    assert info.value.exit_status == 2


def test_default_is_simulated(fake_clock):
    """With nothing named, every device is simulated; a trigger only with a TR."""
    devices = build_devices(clock=fake_clock)
    assert isinstance(devices.shock, SimulatedShock)
    assert isinstance(devices.markers, SimulatedMarkers)
    assert devices.trigger is None
    devices = build_devices(clock=fake_clock, tr=2.0)
    assert isinstance(devices.trigger, SimulatedScanner)
    assert devices.describe()["shock"] == "simulated"


def test_key_trigger_uses_factory(fake_clock):
    """key:KEY is built by the runner's factory; without it the error says why."""
    made = []
    devices = build_devices(
        trigger="key:5", clock=fake_clock, key_trigger_factory=lambda key: made.append(key) or "T"
    )
    assert made == ["5"] and devices.trigger == "T"
    with pytest.raises(SpecError, match="PsychoPy keyboard"):
        build_devices(trigger="key:5", clock=fake_clock)


def test_the_guard_is_built_from_the_protocols_caps(fake_clock):
    """guard_shock puts the built shock behind a guard with the protocol's caps: the 13th
    train is refused and only 12 reach the device."""
    from pavlov.protocols.model import SafetyCaps, Source
    from pavlov.task.devices.base import SafetyError

    caps = SafetyCaps(max_shocks=12, max_train_duration=0.2, source=Source("p.yaml", 1))
    devices = build_devices(clock=fake_clock)
    guard = guard_shock(devices.shock, caps, fake_clock, source="p.yaml")
    guard.open()
    for k in range(13):
        guard.arm(f"a/{k}", 0.0, 1.0)
        if k < 12:
            guard.deliver(0.001, 0.01, 1, f"a/{k}")
            fake_clock.t += 0.01
            devices.shock.delivered()
    with pytest.raises(SafetyError, match="max_shocks 12"):
        guard.deliver(0.001, 0.01, 1, "a/12")
    assert guard.shocks_delivered == 12
    guard.close()


def test_shared_port_code_clash(fake_clock, tmp_path):
    """Shock and markers on one port with a marker code using the shock bit is refused up front."""
    from pavlov.task.devices.lab import LabConfig

    lab = LabConfig(path="lab.yaml", marker_codes={"CSpr": 11})
    with pytest.raises(SpecError, match=r"CSpr=11 would raise the shock line\(s\) D0"):
        build_devices(
            shock="serial:/dev/null", markers="serial:/dev/null", lab=lab, clock=fake_clock
        )


def test_trigger_and_output_on_one_serial_port(fake_clock):
    """A serial trigger cannot share its port with a TTL output."""
    with pytest.raises(SpecError, match="separate ports"):
        build_devices(trigger="serial:/dev/x:5", shock="serial:/dev/x", clock=fake_clock)


def test_failed_open_closes_what_was_opened(pty_peer, fake_clock):
    """If the markers cannot open, the opened shock port is closed; the error names the path."""
    from pavlov.task.devices.base import DeviceError

    with pytest.raises(DeviceError, match="/dev/nonexistent-x"):
        build_devices(
            shock=f"serial:{pty_peer.path}", markers="serial:/dev/nonexistent-x", clock=fake_clock
        )


def test_one_port_under_two_names_is_one_port(pty_peer, fake_clock, tmp_path):
    """A symlink to the shock's serial port (a /dev/serial/by-id name), or a parallel port
    with a trailing slash, is the same port: marker codes with the shock bit are refused
    (the default codes 11, 13, 15 used to reach the box at every CS onset)."""
    from pavlov.task.devices.spec import parse_spec

    alias = tmp_path / "usb-Arduino_by-id"
    alias.symlink_to(pty_peer.path)
    from pavlov.task.devices.lab import LabConfig
    from pavlov.task.devices.lines import MaskedLines

    lab = LabConfig(path="lab.yaml", marker_codes={"CSpr": 11})
    with pytest.raises(SpecError, match="would raise the shock line"):
        build_devices(
            shock=f"serial:{pty_peer.path}", markers=f"serial:{alias}", lab=lab, clock=fake_clock
        )
    # Default codes: one port opened once and shared, so a marker never lowers a pulse.
    devices = build_devices(
        shock=f"serial:{pty_peer.path}", markers=f"serial:{alias}", clock=fake_clock
    )
    try:
        assert isinstance(devices.markers.lines, MaskedLines)
        assert devices.markers.lines.shared is devices.shock.lines.shared
    finally:
        devices.close()
    with pytest.raises(SpecError, match="separate ports"):
        build_devices(
            trigger=f"serial:{alias}:5", shock=f"serial:{pty_peer.path}", clock=fake_clock
        )
    assert parse_spec("shock", "parallel:/dev/parport0").same_port(
        parse_spec("markers", "parallel:/dev/parport0/")
    )
    assert parse_spec("shock", "parallel:/dev/./parport0").same_port(
        parse_spec("markers", "parallel:/dev/parport0")
    )
    assert not parse_spec("shock", "serial:/dev/ttyUSB0").same_port(
        parse_spec("markers", "serial:/dev/ttyUSB1")
    )


@pytest.mark.parametrize("key", ["escape", "space", "f12", "Escape", "y", "n"])
def test_reserved_keys_are_not_trigger_keys(key):
    """--trigger key:escape would turn the emergency stop into scanner pulses: refused."""
    from pavlov.task.devices.spec import parse_spec

    with pytest.raises(SpecError, match="reserved"):
        parse_spec("trigger", f"key:{key}")


def test_serial_spec_without_a_path_blames_the_path():
    """`serial:@9600` names the missing path, not the (valid) baud."""
    from pavlov.task.devices.spec import parse_spec

    with pytest.raises(
        SpecError, match=r"serial:@9600' \(the serial port's path comes before '@'\)"
    ):
        parse_spec("shock", "serial:@9600")
