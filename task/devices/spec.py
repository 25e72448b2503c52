"""Device specs (``--shock``, ``--trigger``, ``--markers``) and building the session's devices.

Spec forms (the same in lab files and on the command line)::

    --shock    simulated | serial:PATH[@BAUD] | parallel:ADDRESS | labjack:LINE
    --trigger  simulated | key:KEY | serial:PATH[@BAUD]:CHAR
    --markers  simulated | serial:PATH[@BAUD] | parallel:ADDRESS | labjack:LINE | lsl[:STREAM]

A real shock device is used only when the command line or the lab file names one; the
default is always ``simulated``. The command line overrides the lab file.

When the shock and the markers name the same port (or both a LabJack), the port is
opened once and shared through :class:`~pavlov.task.devices.lines.SharedLines`: the
shock owns the bits of its code, the markers the others, and a marker code that would
raise a shock line is refused here, before anything is opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from pavlov.common.errors import PavlovError, suggest
from pavlov.common.keys import SYNC_RESERVED_KEYS, reserved_keys
from pavlov.task.devices.base import Clock, MarkerOutput, ScannerTrigger, ShockDevice
from pavlov.task.devices.codes import DEFAULT_MARKER_CODES
from pavlov.task.devices.simulated import SimulatedMarkers, SimulatedScanner, SimulatedShock

if TYPE_CHECKING:
    from pavlov.task.devices.labjack_backend import LabJackU3
    from pavlov.task.devices.lines import OutputLines

__all__ = [
    "FORMS",
    "LINE_BACKENDS",
    "DeviceSet",
    "DeviceSpec",
    "LineBackend",
    "SpecError",
    "build_devices",
    "open_lines",
    "parse_spec",
]

#: Allowed spec forms per role, as shown in messages and ``--help``.
FORMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "shock": ("simulated", "serial:PATH[@BAUD]", "parallel:ADDRESS", "labjack:LINE"),
        "trigger": ("simulated", "key:KEY", "serial:PATH[@BAUD]:CHAR"),
        "markers": (
            "simulated",
            "serial:PATH[@BAUD]",
            "parallel:ADDRESS",
            "labjack:LINE",
            "lsl[:STREAM]",
        ),
    }
)

#: Default shock code: the value written for each pulse (bit 0: pin 2 / line D0).
DEFAULT_SHOCK_CODE = 1
#: Default marker pulse width, seconds (a recorder sampling at 1 kHz sees 10 samples).
DEFAULT_MARKER_WIDTH = 0.01


class SpecError(PavlovError, ValueError):
    """A device spec is malformed or the devices cannot be combined as asked."""

    exit_status = 2


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device spec.

    Attributes
    ----------
    kind : str
        ``simulated``, ``serial``, ``parallel``, ``labjack``, ``key`` or ``lsl``.
    target : str
        Path, port address, LabJack line, key or LSL stream ('' for simulated).
    baud : int or None
        Serial baud rate.
    char : str or None
        Serial trigger character.
    """

    kind: str
    target: str = ""
    baud: int | None = None
    char: str | None = None

    def __str__(self) -> str:
        if self.kind == "simulated":
            return "simulated"
        if self.kind == "lsl":
            return f"lsl:{self.target}" if self.target else "lsl"
        text = f"{self.kind}:{self.target}"
        if self.baud is not None:
            text += f"@{self.baud}"
        if self.char is not None:
            text += f":{self.char}"
        return text

    @property
    def is_real(self) -> bool:
        """True for anything but ``simulated``."""
        return self.kind != "simulated"

    def same_port(self, other: DeviceSpec) -> bool:
        """True if both specs open the same physical port (or the same LabJack).

        Ports are compared by identity, not by name: ``/dev/serial/by-id/...`` and the
        ``/dev/ttyACM0`` it links to, or ``/dev/parport0`` and ``/dev/parport0/``, are one
        port (the device number of the node, else the resolved path).
        """
        if self.kind != other.kind or self.kind in ("simulated", "key", "lsl"):
            return False
        return self.kind == "labjack" or port_identity(self.target) == port_identity(other.target)


def port_identity(target: str) -> object:
    """What identifies the port ``target`` names: its device number, else its real path.

    A character device's ``st_rdev`` is the same under every name (symlinks, hard links,
    ``udev`` aliases); other files use ``(st_dev, st_ino)``; a path that does not exist
    (yet) its resolved, normalised form; a Windows address its number.
    """
    text = str(target).strip()
    if "://" in text:  # a pyserial URL (loop://, socket://host:port)
        return ("url", text)
    with contextlib.suppress(ValueError):
        return ("address", int(text, 0))
    real = os.path.realpath(text)
    try:
        info = os.stat(real)
    except (OSError, ValueError):
        return ("path", os.path.normpath(real))
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        return ("device", info.st_rdev)
    return ("file", info.st_dev, info.st_ino)


def _fail(role: str, text: str, detail: str = "") -> SpecError:
    forms = FORMS[role]
    kind = text.split(":", 1)[0]
    hint = suggest(kind, [f.split(":")[0].split("[")[0] for f in forms])
    expected = ", ".join(forms[:-1]) + " or " + forms[-1]
    message = f"--{role}: expected {expected}, got {text!r}"
    if detail:
        message += f" ({detail})"
    if hint and hint != kind:
        message += f". Did you mean '{hint}'?"
    return SpecError(message)


def parse_spec(role: str, text: str | DeviceSpec) -> DeviceSpec:
    """Parse a ``--shock``, ``--trigger`` or ``--markers`` spec.

    Parameters
    ----------
    role : str
        ``shock``, ``trigger`` or ``markers``.
    text : str or DeviceSpec
        The spec (a DeviceSpec is returned unchanged after checking its kind).

    Returns
    -------
    DeviceSpec

    Raises
    ------
    SpecError
        One line listing the forms allowed for ``role`` and what was given.
    """
    if role not in FORMS:
        raise ValueError(f"role must be one of {', '.join(FORMS)}, got {role!r}")
    if isinstance(text, DeviceSpec):
        text = str(text)
    raw = str(text).strip()
    kind, _, body = raw.partition(":")
    kinds = {f.split(":")[0].split("[")[0] for f in FORMS[role]}
    if kind not in kinds:
        raise _fail(role, raw)
    if kind == "simulated":
        if body:
            raise _fail(role, raw, "simulated takes no argument")
        return DeviceSpec("simulated")
    if kind == "lsl":
        return DeviceSpec("lsl", body)
    if not body:
        raise _fail(role, raw, f"{kind} needs a value after ':'")
    if kind == "key":
        if reserved_keys([body], pulse=True):
            # Escape is the emergency stop: a pulse key must never swallow it.
            raise _fail(role, raw, f"{', '.join(SYNC_RESERVED_KEYS)} are reserved by the run loop")
        return DeviceSpec("key", body)
    if kind == "parallel":
        from pavlov.task.devices.parallel_backend import port_address

        try:
            port_address(body)
        except ValueError as error:
            raise _fail(role, raw, str(error)) from None
        return DeviceSpec("parallel", body)
    if kind == "labjack":
        from pavlov.task.devices.labjack_backend import parse_lines

        try:
            parse_lines(body)
        except ValueError as error:
            raise _fail(role, raw, str(error)) from None
        return DeviceSpec("labjack", body.upper())
    # serial
    char = None
    if role == "trigger":
        path_part, sep, char = body.rpartition(":")
        if not sep or len(char) != 1 or not path_part:
            raise _fail(
                role, raw, "a serial trigger ends with ':' and the one character sent per volume"
            )
        body = path_part
    path, sep, baud_text = body.rpartition("@")
    baud = None
    if sep:
        if not path.strip():
            raise _fail(role, raw, "the serial port's path comes before '@'")
        if not baud_text.isdigit() or not 0 < int(baud_text) <= 10_000_000:
            raise _fail(role, raw, f"baud must be a positive whole number, got {baud_text!r}")
        baud = int(baud_text)
    else:
        path = body
    return DeviceSpec("serial", path, baud, char)


@dataclass(frozen=True)
class DeviceSet:
    """The devices of one session.

    Attributes
    ----------
    trigger : ScannerTrigger or None
        None when the session has no scanner (no ``tr``) and no trigger was named.
    shock : ShockDevice
        The raw device; the session puts it behind its guard
        (:func:`~pavlov.task.devices.safety.guard_shock`).
    markers : MarkerOutput
    marker_codes : Mapping[str, int]
        Code per event (see :mod:`pavlov.task.devices.codes`); 0 means no marker.
    specs : Mapping[str, str]
        The spec each device was built from, by role.
    """

    trigger: ScannerTrigger | None
    shock: ShockDevice
    markers: MarkerOutput
    marker_codes: Mapping[str, int] = field(default_factory=lambda: DEFAULT_MARKER_CODES)
    specs: Mapping[str, str | None] = field(default_factory=dict)
    shock_code: int = DEFAULT_SHOCK_CODE
    marker_width: float = DEFAULT_MARKER_WIDTH
    lab_path: str | None = None
    speed: float = 1.0

    def describe(self) -> dict[str, Any]:
        """Return the JSON-ready ``devices`` entry of the session sidecar."""
        return {
            "trigger": self.specs.get("trigger"),
            "shock": self.specs.get("shock"),
            "shock_code": self.shock_code,
            "markers": self.specs.get("markers"),
            "marker_pulse_width": self.marker_width,
            "marker_codes": dict(self.marker_codes),
            "lab_file": self.lab_path,
            "speed": self.speed,
        }

    def close(self) -> None:
        """Close every device (shock first). Never raises."""
        for device in (self.shock, self.markers, self.trigger):
            if device is not None:
                with contextlib.suppress(Exception):
                    device.close()


class LabDevices(Protocol):
    """What :func:`build_devices` reads from a lab file (a :class:`~.lab.LabConfig`).

    Named here by shape, so that this module need not import ``lab``, which imports it.
    """

    @property
    def path(self) -> str: ...
    @property
    def shock(self) -> DeviceSpec | None: ...
    @property
    def trigger(self) -> DeviceSpec | None: ...
    @property
    def markers(self) -> DeviceSpec | None: ...
    @property
    def shock_code(self) -> int: ...
    @property
    def marker_width(self) -> float: ...
    @property
    def marker_codes(self) -> Mapping[str, int]: ...
    def spec(self, role: str) -> DeviceSpec | None: ...


def build_devices(
    *,
    shock: str | DeviceSpec | None = None,
    trigger: str | DeviceSpec | None = None,
    markers: str | DeviceSpec | None = None,
    lab: LabDevices | None = None,
    clock: Clock,
    tr: float | None = None,
    key_trigger_factory: Callable[[str], ScannerTrigger] | None = None,
    speed: float = 1.0,
) -> DeviceSet:
    """Build (and open the ports of) a session's trigger, shock and marker devices.

    Parameters
    ----------
    shock, trigger, markers : str or DeviceSpec, optional
        Specs from the command line; each overrides the lab file's. Unnamed devices
        are simulated.
    lab : LabConfig, optional
        The ``--lab`` file.
    clock : Clock
        Session clock for every device.
    tr : float, optional
        Repetition time, s. A simulated trigger is built only when given.
    key_trigger_factory : callable, optional
        ``key -> ScannerTrigger`` for ``key:KEY`` triggers (the runner's keyboard).
    speed : float
        Session speed-up, recorded in :meth:`DeviceSet.describe`. Pulse widths stay
        physical (real seconds) at any speed for real devices; a simulated shock plays
        its train on the session's clock (1/speed of its length).

    Returns
    -------
    DeviceSet
        Devices constructed, not yet ``open()``-ed (the run loop opens them).

    Raises
    ------
    SpecError
        For a malformed spec or an impossible combination.
    DeviceError
        When a named device cannot be opened (anything opened is closed again).
    """
    specs = {
        "shock": _resolve("shock", shock, lab),
        "trigger": _resolve("trigger", trigger, lab),
        "markers": _resolve("markers", markers, lab),
    }
    shock_code = lab.shock_code if lab is not None else DEFAULT_SHOCK_CODE
    codes = lab.marker_codes if lab is not None else DEFAULT_MARKER_CODES
    width = lab.marker_width if lab is not None else DEFAULT_MARKER_WIDTH
    if specs["shock"].kind == "labjack":
        # A LabJack shock spec names its lines: a pulse raises exactly those.
        from pavlov.task.devices.labjack_backend import parse_lines

        shock_code = parse_lines(specs["shock"].target)[1]
    shared = specs["shock"].same_port(specs["markers"]) and specs["shock"].kind != "labjack"
    _check_marker_codes(specs["shock"], specs["markers"], shock_code, codes, shared)
    trig = specs["trigger"]
    for role in ("shock", "markers"):
        if trig.kind == "serial" and trig.same_port(specs[role]):
            raise SpecError(
                f"--trigger and --{role} both name serial port {trig.target}; a scanner input "
                "and a TTL output need separate ports"
            )

    opened: list[Any] = []
    try:
        trigger_device = _build_trigger(trig, clock, tr, key_trigger_factory)
        if trigger_device is not None:
            opened.append(trigger_device)
        shock_device, marker_device = _build_outputs(
            specs["shock"], specs["markers"], shared, shock_code, width, clock, opened, speed
        )
    except BaseException:
        for device in reversed(opened):
            with contextlib.suppress(Exception):
                device.close()
        raise
    return DeviceSet(
        trigger=trigger_device,
        shock=shock_device,
        markers=marker_device,
        marker_codes=MappingProxyType(dict(codes)),
        specs=MappingProxyType(
            {
                role: (str(spec) if role != "trigger" or trigger_device else None)
                for role, spec in specs.items()
            }
        ),
        shock_code=shock_code,
        marker_width=width,
        lab_path=lab.path if lab is not None else None,
        speed=speed,
    )


def _resolve(role: str, given: str | DeviceSpec | None, lab: LabDevices | None) -> DeviceSpec:
    if given is not None:
        return parse_spec(role, given)
    from_lab = lab.spec(role) if lab is not None else None
    return from_lab if from_lab is not None else DeviceSpec("simulated")


def _check_marker_codes(
    shock: DeviceSpec, markers: DeviceSpec, shock_code: int, codes: Mapping[str, int], shared: bool
) -> None:
    from pavlov.task.devices.lines import mask_lines

    if shared:
        for event, code in codes.items():
            if code & shock_code:
                raise SpecError(
                    f"--shock and --markers share {shock}, and marker code {event}={code} would "
                    f"raise the shock line(s) {mask_lines(code & shock_code)} (shock code "
                    f"{shock_code}); give markers codes without those bits in the lab file, "
                    "or use separate ports"
                )
    if markers.kind != "labjack":
        return
    from pavlov.task.devices.labjack_backend import parse_lines

    port, mask = parse_lines(markers.target)
    if shock.kind == "labjack":
        shock_port, shock_mask = parse_lines(shock.target)
        if shock_port == port and shock_mask & mask:
            raise SpecError(
                f"--shock {shock} and --markers {markers} use the same LabJack lines; "
                "give markers other lines"
            )
    for event, code in codes.items():
        if code & ~mask:
            raise SpecError(
                f"marker code {event}={code} does not fit the lines of --markers {markers} "
                f"(mask {mask}); use a whole port (labjack:EIO) or smaller codes in the lab file"
            )


def _build_trigger(
    spec: DeviceSpec,
    clock: Clock,
    tr: float | None,
    key_trigger_factory: Callable[[str], ScannerTrigger] | None,
) -> ScannerTrigger | None:
    if spec.kind == "simulated":
        return SimulatedScanner(clock, tr) if tr is not None else None
    if spec.kind == "key":
        if key_trigger_factory is None:
            raise SpecError(
                f"--trigger key:{spec.target} needs the PsychoPy keyboard; it is available "
                "only in `pavlov run`"
            )
        return key_trigger_factory(spec.target)
    from pavlov.task.devices.serial_backend import DEFAULT_BAUD, SerialScanner

    return SerialScanner(spec.target, spec.baud or DEFAULT_BAUD, spec.char or "5", clock)


class _LabJacks:
    """One U3 for every LabJack user of a session (opened on first use)."""

    def __init__(self) -> None:
        self.device: LabJackU3 | None = None

    def get(self) -> LabJackU3:
        if self.device is None:
            from pavlov.task.devices.labjack_backend import LabJackU3

            self.device = LabJackU3()
        return self.device


def _serial_lines(spec: DeviceSpec, _labjacks: _LabJacks) -> OutputLines:
    from pavlov.task.devices.serial_backend import DEFAULT_BAUD, SerialLines

    return SerialLines(spec.target, spec.baud or DEFAULT_BAUD, name=str(spec))


def _parallel_lines(spec: DeviceSpec, _labjacks: _LabJacks) -> OutputLines:
    from pavlov.task.devices.parallel_backend import ParallelLines, port_address

    return ParallelLines(port_address(spec.target), name=str(spec))


def _labjack_lines(spec: DeviceSpec, labjacks: _LabJacks) -> OutputLines:
    from pavlov.task.devices.labjack_backend import parse_lines

    port, mask = parse_lines(spec.target)
    return labjacks.get().lines(port, mask, name=str(spec))


@dataclass(frozen=True)
class LineBackend:
    """How one kind of wired port is opened as eight output lines.

    Attributes
    ----------
    kind : str
        The spec's kind (``serial``, ``parallel``, ``labjack``).
    library : str
        The module the backend drives (imported ahead by the watchdog, so that lowering
        the line after a death takes milliseconds).
    open : callable
        ``(spec, labjacks) -> OutputLines``: opens the port with every line untouched.
    """

    kind: str
    library: str
    open: Callable[[DeviceSpec, _LabJacks], OutputLines]


#: The wired backends by spec kind: shock lines and line markers are opened through them,
#: and the watchdog reopens a dead session's shock port with the same one.
LINE_BACKENDS: Mapping[str, LineBackend] = MappingProxyType(
    {
        "serial": LineBackend("serial", "serial", _serial_lines),
        "parallel": LineBackend("parallel", "psychopy.parallel", _parallel_lines),
        "labjack": LineBackend("labjack", "u3", _labjack_lines),
    }
)


def open_lines(spec: DeviceSpec, labjacks: _LabJacks | None = None) -> OutputLines:
    """Open the output lines of a wired port spec with its backend (:data:`LINE_BACKENDS`).

    Raises
    ------
    SpecError
        If the spec names no wired port (``simulated``, ``lsl``, ``key``).
    DeviceError
        If the port cannot be opened.
    """
    backend = LINE_BACKENDS.get(spec.kind)
    if backend is None:
        raise SpecError(f"{spec} has no output lines")
    return backend.open(spec, labjacks if labjacks is not None else _LabJacks())


def _build_outputs(
    shock_spec: DeviceSpec,
    marker_spec: DeviceSpec,
    shared: bool,
    shock_code: int,
    width: float,
    clock: Clock,
    opened: list[Any],
    speed: float = 1.0,
) -> tuple[ShockDevice, MarkerOutput]:
    from pavlov.task.devices.lines import LineMarkers, PulseTrainShock, SharedLines

    labjacks = _LabJacks()
    shock_lines: OutputLines | None = None
    marker_lines: OutputLines | None = None
    if shared:
        port = SharedLines(open_lines(shock_spec, labjacks))
        shock_lines = port.channel(shock_code, name=str(shock_spec))
        opened.append(shock_lines)
        marker_lines = port.channel(0xFF & ~shock_code, name=str(marker_spec))
        opened.append(marker_lines)
    else:
        if shock_spec.is_real:
            shock_lines = open_lines(shock_spec, labjacks)
            opened.append(shock_lines)
        if marker_spec.is_real and marker_spec.kind != "lsl":
            marker_lines = open_lines(marker_spec, labjacks)
            opened.append(marker_lines)
    if shock_lines is None:
        # A simulated train runs on the session's clock (1/speed of its real length).
        shock: ShockDevice = SimulatedShock(clock, speed=speed)
    else:
        shock = PulseTrainShock(shock_lines, shock_code, clock, str(shock_spec))
    if marker_spec.kind == "simulated":
        markers: MarkerOutput = SimulatedMarkers(clock)
    elif marker_spec.kind == "lsl":
        from pavlov.task.devices.lsl_backend import LSLMarkers

        stream = marker_spec.target or "pavlov-markers"
        markers = LSLMarkers(clock, stream=stream, source_id=stream)
    else:
        assert marker_lines is not None  # a real, non-LSL marker spec: opened above
        markers = LineMarkers(marker_lines, clock, width, str(marker_spec))
    return shock, markers
