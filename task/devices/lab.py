"""Lab files: one YAML file per room naming its devices, chosen with ``--lab FILE``.

Example::

    lab: MRI suite, room 2          # free text, logged
    shock:
      device: serial:/dev/ttyACM0@115200   # or parallel:ADDRESS, labjack:LINE, simulated
      code: 1                              # value written for each pulse (default 1 = line D0)
    trigger:
      device: serial:/dev/ttyUSB0@19200:5  # simulated | key:KEY | serial:PATH[@BAUD]:CHAR
    markers:
      device: parallel:/dev/parport0       # ... | lsl[:STREAM]
      pulse_width: 0.01                    # seconds each code is held
      codes:                               # override any of DEFAULT_MARKER_CODES; 0 = no marker
        CSpr: 10
        USp: 20
    record: [lsl:BioSemi]                # LSL streams recorded during sessions (BIDS physio)

Every section is optional; an absent device is simulated. Mistakes are reported like
protocol mistakes: ``lab.yaml:4: shock.device: expected ..., got .... Did you mean ...?``
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pavlov.common.errors import FileError, suggest
from pavlov.common.yamlio import read_yaml
from pavlov.protocols.reader import Section, describe
from pavlov.task.devices.codes import DEFAULT_MARKER_CODES, MARKER_EVENTS
from pavlov.task.devices.spec import (
    DEFAULT_MARKER_WIDTH,
    DEFAULT_SHOCK_CODE,
    FORMS,
    DeviceSpec,
    SpecError,
    parse_spec,
)

__all__ = ["DEFAULT_MARKER_CODES", "LabConfig", "LabFileError", "load_lab"]


class LabFileError(FileError):
    """A lab file is not valid (one line, in the voice of protocol file errors)."""


@dataclass(frozen=True)
class LabConfig:
    """A validated lab file.

    Attributes
    ----------
    path : str
        The file, as named by the user.
    name : str or None
        The ``lab`` label.
    shock, trigger, markers : DeviceSpec or None
        Devices named in the file (None: not named, i.e. simulated).
    shock_code : int
        Value written for each shock pulse (its bits are the shock lines).
    marker_width : float
        Seconds each marker code is held.
    marker_codes : Mapping[str, int]
        Code per marker event, defaults overridden by the file; 0 = no marker.
    record : tuple of str
        LSL streams (``lsl:STREAM``) recorded during every session (``pavlov run --record``).
    """

    path: str
    name: str | None = None
    shock: DeviceSpec | None = None
    trigger: DeviceSpec | None = None
    markers: DeviceSpec | None = None
    shock_code: int = DEFAULT_SHOCK_CODE
    marker_width: float = DEFAULT_MARKER_WIDTH
    marker_codes: Mapping[str, int] = field(default_factory=lambda: DEFAULT_MARKER_CODES)
    record: tuple[str, ...] = ()

    def spec(self, role: str) -> DeviceSpec | None:
        """The device the file names for ``role`` (shock, trigger, markers), or None."""
        specs = {"shock": self.shock, "trigger": self.trigger, "markers": self.markers}
        if role not in specs:
            raise ValueError(f"role must be one of {', '.join(specs)}, got {role!r}")
        return specs[role]


def load_lab(path: str | os.PathLike[str]) -> LabConfig:
    """Read and validate a lab file.

    Parameters
    ----------
    path : path-like
        The YAML file.

    Returns
    -------
    LabConfig

    Raises
    ------
    LabFileError
        One line, ``path:line: key: expected X, got Y[. Did you mean 'Z'?]``.
    """
    shown = str(path)
    _, root = read_yaml(path, "a lab file", LabFileError)
    top = Section(shown, root, "", ("lab", "shock", "trigger", "markers", "record"), LabFileError)
    name = top.text("lab", None)
    record_nodes = top.sequence("record", None, what="a list of lsl:STREAM") or []
    record = tuple(
        top.check_text(
            node, f"record[{i}]", "lsl:STREAM (an LSL stream's name)", pattern=r"lsl:\S.*"
        )
        for i, node in enumerate(record_nodes)
    )

    shock_section = top.section("shock", ("device", "code"), None)
    shock = _device(shock_section, "shock")
    shock_code = DEFAULT_SHOCK_CODE
    if shock_section is not None:
        shock_code = shock_section.integer("code", DEFAULT_SHOCK_CODE, ge=1, le=255)

    trigger = _device(top.section("trigger", ("device",), None), "trigger")

    marker_section = top.section("markers", ("device", "pulse_width", "codes"), None)
    markers = _device(marker_section, "markers")
    width = DEFAULT_MARKER_WIDTH
    codes = dict(DEFAULT_MARKER_CODES)
    if marker_section is not None:
        width = marker_section.number(
            "pulse_width", DEFAULT_MARKER_WIDTH, gt=0, le=1, what="seconds"
        )
        code_section = marker_section.section("codes", MARKER_EVENTS, None)
        if code_section is not None:
            for event in code_section.items:
                codes[event] = code_section.integer(event, ge=0, le=255, what="a code")
        if (
            shock is not None
            and markers is not None
            and shock.same_port(markers)
            and shock.kind != "labjack"
        ):
            _check_shared(shown, marker_section, code_section, shock_section, shock_code, codes)
    return LabConfig(
        path=shown,
        name=name,
        shock=shock,
        trigger=trigger,
        markers=markers,
        shock_code=shock_code,
        marker_width=width,
        marker_codes=MappingProxyType(codes),
        record=record,
    )


def _device(section: Section | None, role: str) -> DeviceSpec | None:
    if section is None:
        return None
    node = section.node("device")
    expected = " | ".join(FORMS[role])
    if node is None or node.value is None:
        section.fail("device", f"{expected} (required)", "nothing")
    if not isinstance(node.value, str):
        section.fail("device", expected, describe(node))
    try:
        return parse_spec(role, node.value)
    except SpecError as error:
        kind = node.value.split(":", 1)[0]
        kinds = [form.split(":")[0].split("[")[0] for form in FORMS[role]]
        hint = suggest(kind, kinds)
        detail = str(error).split(f", got {node.value.strip()!r}", 1)[-1]
        detail = detail.split(". Did you mean", 1)[0].strip()
        got = f"{describe(node)} {detail}".strip()
        raise LabFileError(
            section.path,
            node.line,
            section.sub("device"),
            expected,
            got,
            hint if hint != kind else None,
        ) from None


def _check_shared(
    shown: str,
    marker_section: Section,
    code_section: Section | None,
    shock_section: Section | None,
    shock_code: int,
    codes: Mapping[str, int],
) -> None:
    # Shock and markers on one port: no marker code may raise a shock line.
    for event, code in codes.items():
        if code & shock_code:
            if code_section is not None and code_section.has(event):
                line, key = code_section.line_of(event), code_section.sub(event)
            elif shock_section is not None and shock_section.has("code"):
                line, key = shock_section.line_of("code"), shock_section.sub("code")
            else:
                line, key = marker_section.line_of("device"), marker_section.sub("device")
            raise LabFileError(
                shown,
                line,
                key,
                f"marker codes without the shock bits ({shock_code}) when shock and markers "
                "share a port",
                f"{event} = {code}",
            )
