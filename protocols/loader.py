"""Strict loading of protocol files.

:func:`load_protocol` returns a fully validated :class:`~pavlov.protocols.model.Protocol`
or raises one :class:`~pavlov.protocols.errors.ProtocolError` whose message is a single
line: ``path:line: key.path: expected X, got Y. Did you mean 'Z'?``. It never returns a
partial result. The format is documented key by key in ``protocols/README.md``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from pavlov.common.errors import suggest
from pavlov.common.keys import SYNC_RESERVED_KEYS, reserved_keys
from pavlov.common.yamlio import Node, read_yaml
from pavlov.protocols import format as declared
from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.format import COLOR, LABEL, NAME, ROLE
from pavlov.protocols.format import names as key_names
from pavlov.protocols.kinds import KINDS, PHASE_TYPES
from pavlov.protocols.kinds.keys import REQUIRED
from pavlov.protocols.kinds.shared import read_scale
from pavlov.protocols.model import (
    CS_KINDS,
    SHAPES,
    US_KINDS,
    ArmSpec,
    CalibrationSpec,
    Counterbalancing,
    ITISpec,
    Phase,
    Protocol,
    PulseTrain,
    SafetyCaps,
    ScannerSpec,
    SessionSpec,
    Source,
    StimulusSpec,
    USSpec,
    continuum,
    cs_type,
    is_gs,
)
from pavlov.protocols.reader import MISSING, Collector, Section, describe
from pavlov.stimuli.resolve import (
    IMAGE_SUFFIXES,
    SOUND_SUFFIXES,
    article,
    image_problem,
    near_name,
    not_regular,
    resolve,
    sound_problem,
)

FORMAT_VERSION = 1

LABEL_WHAT = "a label of letters and digits"
NAME_WHAT = "a name of letters, digits and _ (starting with a letter)"
COLOR_WHAT = "a colour (#rrggbb or a name such as white)"

#: What to suggest for an ITI written as a range of text (``iti: 10-14``).
DRAW_HINT = "{{uniform: [{low}, {high}]}}"

# The accepted keys come from the format's declarations (pavlov.protocols.format), from
# which the JSON Schema is generated too.
TOP_KEYS = key_names(declared.TOP)
CS_STIMULUS_KEYS = key_names(declared.CS_STIMULUS)
CONTEXT_STIMULUS_KEYS = key_names(declared.CONTEXT_STIMULUS)
_BLOCKS = {key.name: key_names(key.keys) for key in declared.TOP if key.keys}


def load_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Read, check and return a protocol file.

    Parameters
    ----------
    path : path-like
        The YAML protocol file.

    Returns
    -------
    Protocol
        The validated protocol.

    Raises
    ------
    ProtocolError
        On the first mistake found, with a one-line message.
    """
    shown = str(path)
    text, root = read_yaml(path, "a protocol file", ProtocolError)
    return _ProtocolReader(shown, Path(path).resolve(), text).read(root)


class _ProtocolReader:
    def __init__(self, shown: str, path: Path, text: str) -> None:
        self.shown = shown
        self.path = path
        self.folder = path.parent
        self.text = text
        self.train_lines: dict[str, int] = {}
        self.warnings: list[str] = []

    def warn(self, section: Section, name: str, text: str) -> None:
        self.warnings.append(
            f"{self.shown}:{section.line_of(name)}: {section.sub(name)}: warning: {text}"
        )

    def source(self, line: int) -> Source:
        return Source(str(self.path), line)

    # -- top level ---------------------------------------------------------------------

    def read(self, root: Node) -> Protocol:
        # Every independent mistake in one run: each block, stimulus, US, phase and the
        # sessions are units of their own; a unit that needs a failed one is skipped, and
        # the checks across the whole file run only on a file without other mistakes.
        errors = self.errors = Collector()
        attempt = errors.attempt
        top = Section(self.shown, root, "", TOP_KEYS, collector=errors)
        attempt(lambda: self.read_version(top))
        study = attempt(lambda: top.text("study"))
        task = attempt(
            lambda: top.text("task", pattern=LABEL, what=f"a BIDS task label ({LABEL_WHAT})")
        )
        seed = attempt(lambda: top.integer("seed", ge=0, what="a seed (a whole number)"))
        # For the BIDS dataset_description.json of the data folder (optional).
        authors = attempt(lambda: self.read_authors(top)) or ()
        license_ = attempt(lambda: top.text("license", None, what="a licence name (e.g. CC0)"))

        self.cs_roles: tuple[str, ...] = ()
        self.cs_circle = False
        cs_section = attempt(lambda: self.read_cs_roles(top), name="cs")
        # Phases need the roles only: a broken stimulus does not hide their mistakes.
        if cs_section is not None:
            attempt(functools.partial(self.read_cs_stimuli, cs_section))
        self.us = attempt(lambda: self.read_us_block(top), name="us") or {}
        self.context_roles: tuple[str, ...] = ()
        self.contexts: dict[str, StimulusSpec] = {}
        attempt(lambda: self.read_contexts_block(top), name="contexts")

        counterbalancing = attempt(lambda: self.read_counterbalancing(top))
        self.scanner = attempt(lambda: self.read_scanner(top), name="scanner")
        self.safety = attempt(lambda: self.read_safety(top), name="safety", needs=("us",))
        calibration = attempt(lambda: self.read_calibration(top), needs=("us",))

        phases_section = attempt(lambda: top.section("phases", None), name="phases")
        self.phases: dict[str, Phase] = {}
        if phases_section is not None:
            for name in phases_section.items:
                phase = attempt(
                    functools.partial(self.read_phase, phases_section, name),
                    needs=("cs", "us", "contexts", "scanner"),
                )
                if phase is None:
                    errors.failed.add("phases")
                else:
                    self.phases[name] = phase
            if not phases_section.items:
                attempt(lambda: top.fail("phases", "at least one phase", "an empty mapping"))
        sessions = attempt(lambda: self.read_sessions(top), name="sessions", needs=("phases",))
        arms = attempt(lambda: self.read_arms(top, sessions or ()), needs=("phases", "sessions"))
        errors.finish()
        # Without a recorded mistake, every unit above was read.
        assert study is not None and task is not None and seed is not None
        assert counterbalancing is not None and sessions is not None and arms is not None
        for variant in (sessions, *(arm.sessions for arm in arms.values())):
            for session in variant:
                self.check_caps(top, session)
            self.check_sync_key(variant)
        return Protocol(
            path=str(self.path),
            sha256=hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            text=self.text,
            study=study,
            task=task,
            seed=seed,
            cs_roles=self.cs_roles,
            cs=self.cs,
            us=self.us,
            context_roles=self.context_roles,
            contexts=self.contexts,
            counterbalancing=counterbalancing,
            phases=self.phases,
            sessions=sessions,
            scanner=self.scanner,
            safety=self.safety,
            calibration=calibration,
            authors=authors,
            license=license_,
            warnings=tuple(self.warnings),
            arms=MappingProxyType(arms),
            cs_circle=self.cs_circle,
        )

    def read_version(self, top: Section) -> int:
        version = top.integer("pavlov", what=f"the format version ({FORMAT_VERSION})")
        if version != FORMAT_VERSION:
            top.fail("pavlov", f"format version {FORMAT_VERSION} (this pavlov's)", str(version))
        return version

    def read_authors(self, top: Section) -> tuple[str, ...]:
        author_nodes = top.sequence("authors", None, what="a list of author names") or []
        return tuple(
            top.check_text(node, f"authors[{i}]", "an author's name")
            for i, node in enumerate(author_nodes)
        )

    def read_cs_roles(self, top: Section) -> Section:
        cs_section = top.section("cs", _BLOCKS["cs"])
        self.cs_roles = self.read_roles(
            cs_section, ROLE, "a CS role such as CS+, CS- or CS+R, or a GS role GS1…GSn"
        )
        if not any(cs_type(r) == "CS+" for r in self.cs_roles):
            cs_section.fail("roles", "at least one CS+ role", describe(cs_section.node("roles")))
        self.check_continuum(cs_section)
        self.cs_circle = cs_section.boolean("circle", False)
        if self.cs_circle and continuum(self.cs_roles) is None:
            cs_section.fail(
                "circle",
                "circle: true only with GS roles (a circle of generalisation stimuli)",
                "true",
            )
        return cs_section

    def check_continuum(self, cs_section: Section) -> None:
        """A generalisation design's roles are its continuum: CS+, GS1 … GSn, CS−, listed
        in that order (so its stimuli, listed in the same order, keep their places)."""
        roles = self.cs_roles
        nodes = cs_section.sequence("roles", what="a list of roles") or []
        for node, role in zip(nodes, roles):
            # A GS once had to be written as a CS− role (CS-GS2), and was logged and
            # analysed as a CS−; name the role that says what it is.
            old = re.fullmatch(r"CS[+-]GS(\d*)", role)
            if old is not None:
                raise ProtocolError(
                    self.shown,
                    node.line,
                    f"{cs_section.sub('roles')}[{roles.index(role)}]",
                    "a generalisation role GS1…GSn (never reinforced, logged as GS)",
                    f"'{role}'",
                    f"GS{int(old[1] or 1)}",
                )
        order = continuum(roles)
        if order is None:
            return
        gs = [r for r in roles if is_gs(r)]
        shown = f"[{', '.join(roles)}]"
        numbers = sorted(int(r[2:]) for r in gs)
        if numbers != list(range(1, len(gs) + 1)):
            cs_section.fail(
                "roles",
                f"GS roles numbered GS1…GS{len(gs)} without gaps (the number is the "
                "position on the continuum from the CS+ end)",
                shown,
            )
        ends = [r for r in roles if not is_gs(r)]
        if [cs_type(r) for r in ends] not in (["CS+", "CS-"], ["CS-", "CS+"]):
            cs_section.fail(
                "roles",
                "one CS+ and one CS− role with GS roles (the two ends of the continuum)",
                shown,
            )
        if roles != order:
            cs_section.fail(
                "roles",
                f"the roles in continuum order [{', '.join(order)}] (the stimuli are "
                "listed in the same order)",
                shown,
            )

    def read_cs_stimuli(self, cs_section: Section) -> None:
        self.cs = self.read_stimuli(cs_section, len(self.cs_roles), CS_STIMULUS_KEYS, self.read_cs)
        if self.cs_circle:
            # Around a circle every GS has two stimuli, one either side of the CS+.
            n = 2 * (len(self.cs_roles) - 1)
            if len(self.cs) != n:
                cs_section.fail(
                    "stimuli",
                    f"{n} stimuli on a circle with {len(self.cs_roles) - 2} GS roles (listed "
                    "around the circle from the CS+: the CS+, the GS1 … GSn on one side, the "
                    "CS−, the GSn … GS1 on the other)",
                    f"{len(self.cs)} stimuli",
                )
        elif continuum(self.cs_roles) is not None and len(self.cs) != len(self.cs_roles):
            # Every stimulus has its place on the continuum: a spare one would be given
            # to a role as an arbitrary picture by counterbalancing.
            cs_section.fail(
                "stimuli",
                f"one stimulus per role ({len(self.cs_roles)}), in continuum order, with GS roles",
                f"{len(self.cs)} stimuli",
            )

    def read_contexts_block(self, top: Section) -> None:
        ctx_section = top.section("contexts", _BLOCKS["contexts"], None)
        if ctx_section is not None:
            self.context_roles = self.read_roles(
                ctx_section, LABEL, f"a context role ({LABEL_WHAT})"
            )
            self.contexts = self.read_stimuli(
                ctx_section, len(self.context_roles), CONTEXT_STIMULUS_KEYS, self.read_context
            )

    def check_sync_key(self, sessions) -> None:
        """A keyboard scanner pulse key must not be a rating or event key of a scanner
        session: its presses become pulses, so that answer could never be given."""
        scanner_section = self.scanner_section
        if self.scanner is None or scanner_section is None:
            return
        if not self.scanner.sync.startswith("key:"):
            return
        key = self.scanner.sync[4:]
        for session in sessions:
            if not session.scanner:
                continue
            for name in session.phases:
                phase = self.phases.get(name)
                if phase is None:
                    continue
                if key in KINDS[phase.type].used_keys(phase):
                    scanner_section.fail(
                        "sync",
                        f"a pulse key that no rating or event key of a scanner session uses "
                        f"(phase {name} uses '{key}'; its presses would be scanner pulses)",
                        f"'{self.scanner.sync}'",
                    )

    def read_roles(self, section: Section, pattern: str, what: str) -> tuple[str, ...]:
        nodes = section.sequence("roles", what="a list of roles")
        roles: list[str] = []
        for i, node in enumerate(nodes):
            key = f"{section.sub('roles')}[{i}]"
            role = section.check_text(node, key, what, pattern=pattern)
            if role in roles:
                raise ProtocolError(self.shown, node.line, key, "each role once", f"'{role}' again")
            roles.append(role)
        return tuple(roles)

    def read_stimuli(self, section: Section, n_roles: int, keys, read_one) -> dict:
        stimuli_node = section.node("stimuli")
        stimuli = section.section("stimuli", None)
        if stimuli is None or not stimuli.items:
            section.fail("stimuli", "a mapping of stimulus names", describe(stimuli_node))
        if len(stimuli.items) < n_roles:
            section.fail(
                "stimuli",
                f"at least one stimulus per role ({n_roles})",
                f"{len(stimuli.items)} stimuli",
            )

        def read_stimulus(name: str) -> StimulusSpec:
            stimuli.check_text(
                Node(name, stimuli.key_lines[name]), stimuli.sub(name), NAME_WHAT, pattern=NAME
            )
            return read_one(stimuli.section(name, keys), name)

        out = self.errors.each(stimuli.items, read_stimulus, name=stimuli.key)
        if not self.errors.ready(stimuli.key):
            raise self.errors.combined()  # the block is incomplete; its mistakes are recorded
        return out

    def read_file(self, section: Section, name: str, kind: str, template: bool = False) -> str:
        """Resolve and check an image or sound file named by ``section[name]``.

        With ``template``, a path containing ``{participant}`` is a per-participant file:
        it is kept as written and checked for each participant before a session
        (:func:`pavlov.stimuli.check.prepare_stimuli`).
        """
        written = section.text(name, what=f"the path of {article(kind)} file")
        if "{" in written or "}" in written:
            placeholders = written.count("{participant}")
            if not template:
                section.fail(
                    name, f"the path of {article(kind)} file (no placeholders)", f"'{written}'"
                )
            if written.count("{") != placeholders or written.count("}") != placeholders:
                section.fail(name, "a path whose only placeholder is {participant}", f"'{written}'")
            suffixes = SOUND_SUFFIXES if kind == "sound" else IMAGE_SUFFIXES
            if Path(written).suffix.lower() not in suffixes:
                section.fail(name, f"{article(kind)} file ({', '.join(suffixes)})", f"'{written}'")
            return written
        path = resolve(written, self.folder)
        if path is None:
            special = not_regular(written, self.folder)
            if special is not None:
                section.fail(name, f"{article(kind)} file", f"'{written}', {special}")
            section.fail(
                name,
                f"an existing {kind} file (looked beside the protocol and in pavlov's stimuli)",
                f"'{written}'",
                near_name(written, self.folder),
            )
        problem = image_problem(path) if kind == "image" else sound_problem(path)
        if problem is not None:
            section.fail(name, f"{article(kind)} file", problem)
        return str(path)

    def read_cs(self, section: Section, name: str) -> StimulusSpec:
        kinds = [k for k in CS_KINDS if section.has(k)]
        if len(kinds) != 1:
            got = "none of them" if not kinds else " and ".join(kinds)
            raise ProtocolError(
                self.shown,
                section.line,
                section.key,
                "exactly one of image, shape, text, sound",
                got,
            )
        kind = kinds[0]
        size = section.number("size", 0.4, gt=0, le=1, what="a height as a fraction of the screen")
        source = self.source(section.line)
        if kind in ("image", "sound"):
            if section.has("color"):
                section.fail(
                    "color", f"no colour for {article(kind)} CS", describe(section.node("color"))
                )
            return StimulusSpec(
                name,
                kind,
                source,
                file=self.read_file(section, kind, kind, template=True),
                size=size,
            )
        color = section.text(
            "color", MISSING if kind == "shape" else "white", pattern=COLOR, what=COLOR_WHAT
        )
        if kind == "shape":
            shape = section.choice("shape", SHAPES)
            return StimulusSpec(name, kind, source, shape=shape, color=color, size=size)
        return StimulusSpec(name, kind, source, text=section.text("text"), color=color, size=size)

    def read_context(self, section: Section, name: str) -> StimulusSpec:
        source = self.source(section.line)
        if section.has("image") == section.has("color"):
            raise ProtocolError(
                self.shown,
                section.line,
                section.key,
                "exactly one of image, color",
                "both" if section.has("image") else "neither",
            )
        if section.has("image"):
            return StimulusSpec(
                name, "image", source, file=self.read_file(section, "image", "image"), size=1.0
            )
        color = section.text("color", pattern=COLOR, what=COLOR_WHAT)
        return StimulusSpec(name, "shape", source, shape="square", color=color, size=1.0)

    def read_us_block(self, top: Section) -> dict[str, USSpec]:
        block = top.section("us", None, None)
        if block is None:
            return {}

        def read_one(name: str) -> USSpec:
            block.check_text(
                Node(name, block.key_lines[name]), block.sub(name), NAME_WHAT, pattern=NAME
            )
            return self.read_us(block, name)

        return self.errors.each(block.items, read_one, name="us")

    def read_us(self, block: Section, name: str) -> USSpec:
        first = Section(
            self.shown,
            block.child(name),
            block.sub(name),
            None,  # the type first: the keys a US accepts depend on it
        )
        kind = first.choice("type", US_KINDS)
        allowed = key_names(declared.US_TYPES[kind])
        section = Section(
            self.shown, block.child(name), block.sub(name), allowed, collector=self.errors
        )
        source = self.source(section.line)
        if kind == "shock":
            train_section = section.section("train", key_names(declared.US_TYPES["shock"][1].keys))
            width = train_section.number("pulse_width", gt=0, le=1, what="seconds")
            count = train_section.integer("count", ge=1, what="a number of pulses")
            if count == 1:  # a single pulse has no interval; keep the key optional
                interval = train_section.number("interval", width, gt=0, what="seconds")
            else:
                interval = train_section.number(
                    "interval", gt=width, what="seconds (onset to onset) greater than pulse_width"
                )
            train = PulseTrain(width, interval, count)
            self.train_lines[name] = section.line_of("train")
            duration = section.number("duration", train.duration, gt=0, what="seconds")
            if duration < train.duration - 1e-9:
                section.fail(
                    "duration",
                    f"at least the train's length ({train.duration:g} s)",
                    f"{duration:g}",
                )
            return USSpec(name, kind, duration, source, train=train)
        file = self.read_file(section, "file", "sound" if kind == "sound" else "image")
        duration = section.number("duration", gt=0, what="seconds")
        volume = (
            # A silent US (volume 0) is no US: every response to it would be void.
            section.number("volume", 1.0, gt=0, le=1, what="a volume") if kind == "sound" else 1.0
        )
        return USSpec(name, kind, duration, source, file=file, volume=volume)

    def read_counterbalancing(self, top: Section) -> Counterbalancing:
        section = top.section("counterbalancing", _BLOCKS["counterbalancing"], None)
        if section is None:
            return Counterbalancing()
        return Counterbalancing(
            cs=section.choice("cs", ("permute", "fixed"), "permute"),
            contexts=section.choice("contexts", ("permute", "fixed"), "permute"),
        )

    def read_scanner(self, top: Section) -> ScannerSpec | None:
        section = top.section("scanner", _BLOCKS["scanner"], None)
        self.scanner_section = section
        if section is None:
            return None
        sync = section.text(
            "sync", "key:5", pattern=r"(key|serial|simulated)(:.*)?", what="a trigger such as key:5"
        )
        kind, _, key = sync.partition(":")
        if kind == "key" and (not key or reserved_keys([key], pulse=True)):
            # Escape is the emergency stop: a pulse key must never swallow it (or space,
            # F12, y, n, which the run loop also needs).
            section.fail(
                "sync",
                f"a trigger key other than {', '.join(SYNC_RESERVED_KEYS)} (reserved by the "
                "run loop)",
                f"'{sync}'",
            )
        tr = section.number("tr", gt=0, le=10, what="seconds")
        dummy_volumes = section.integer("dummy_volumes", 0, ge=0, le=100)
        # The timeout is for the first pulse; a running scanner sends one within a TR.
        timeout = section.number(
            "timeout", max(30.0, tr), ge=tr, le=3600, what="seconds for the first pulse (>= tr)"
        )
        return ScannerSpec(
            tr=tr,
            dummy_volumes=dummy_volumes,
            sync=sync,
            timeout=timeout,
            source=self.source(section.line),
        )

    def read_safety(self, top: Section) -> SafetyCaps | None:
        has_shock = any(u.kind == "shock" for u in self.us.values())
        section = top.section("safety", _BLOCKS["safety"], MISSING if has_shock else None)
        if section is None:
            return None
        caps = SafetyCaps(
            max_shocks=section.integer("max_shocks", ge=1, le=200, what="a number of shocks"),
            max_train_duration=section.number("max_train_duration", gt=0, le=2.0, what="seconds"),
            source=self.source(section.line),
        )
        for name, us in self.us.items():
            if us.train is not None and us.train.duration > caps.max_train_duration + 1e-9:
                raise ProtocolError(
                    self.shown,
                    self.train_lines[name],
                    f"us.{name}.train",
                    f"a train no longer than safety.max_train_duration ({caps.max_train_duration:g} s)",
                    f"{us.train.duration:g} s",
                )
        return caps

    def read_calibration(self, top: Section) -> CalibrationSpec | None:
        keys = _BLOCKS["calibration"]
        section = top.section("calibration", keys, None)
        if section is None:
            return None
        low, high = read_scale(section, "scale", (1, 10))
        target = section.integer(
            "target", ge=low, le=high, what=f"a rating on the scale {low}-{high}"
        )
        start = section.number("start_ma", gt=0, le=100, what="milliamperes")
        ceiling = section.number("ceiling_ma", gt=0, le=100, what="milliamperes")
        if ceiling < start:
            section.fail("ceiling_ma", f"milliamperes >= start_ma ({start:g})", f"{ceiling:g}")
        return CalibrationSpec(
            scale=(low, high),
            target=target,
            target_text=section.text("target_text", "unpleasant but not painful"),
            start_ma=start,
            step_ma=section.number("step_ma", gt=0, le=100, what="milliamperes"),
            ceiling_ma=ceiling,
            max_steps=section.integer("max_steps", 15, ge=1, le=50),
            source=self.source(section.line),
        )

    # -- phases ------------------------------------------------------------------------

    def read_phase(self, phases: Section, name: str) -> Phase:
        key = phases.sub(name)
        phases.check_text(Node(name, phases.key_lines[name]), key, NAME_WHAT, pattern=NAME)
        node = phases.child(name)
        probe = Section(self.shown, node, key, None)
        kind = KINDS[probe.choice("type", PHASE_TYPES)]
        allowed = ("type", *(k.name for k in kind.keys))
        if kind.instructions_key not in allowed:
            allowed = (*allowed, kind.instructions_key)
        section = Section(self.shown, node, key, allowed, collector=self.errors)
        source = self.source(section.line)
        instructions = section.text(
            kind.instructions_key, REQUIRED if kind.instructions_key == "text" else None
        )
        spec = kind.read(self, section, instructions)
        phase = Phase(
            name=name, type=kind.name, source=source, instructions=instructions, spec=spec
        )
        return replace(phase, files=kind.files(phase))

    def read_phase_us(self, section: Section, required: bool) -> str | None:
        if section.has("us"):
            name = section.text("us", what="the name of a US")
            if name not in self.us:
                section.fail(
                    "us",
                    f"one of the USs ({', '.join(self.us) or 'none defined'})",
                    f"'{name}'",
                    suggest(name, self.us),
                )
            return name
        if len(self.us) == 1:
            return next(iter(self.us))
        if required:
            expected = (
                "the name of the US delivered (required: the protocol defines several)"
                if self.us
                else "a US (define one under 'us')"
            )
            section.fail("us", expected, "nothing")
        return None

    def read_context_role(self, section: Section) -> str | None:
        if not section.has("context"):
            return None
        name = section.text("context", what="a context role")
        if name not in self.context_roles:
            section.fail(
                "context",
                f"one of the context roles ({', '.join(self.context_roles) or 'none defined'})",
                f"'{name}'",
                suggest(name, self.context_roles),
            )
        return name

    def check_role(self, section: Section, node: Node, key: str) -> str:
        role = section.check_text(node, key, "a CS role")
        if role not in self.cs_roles:
            raise ProtocolError(
                self.shown,
                node.line,
                key,
                f"one of the CS roles ({', '.join(self.cs_roles)})",
                f"'{role}'",
                suggest(role, self.cs_roles),
            )
        return role

    def read_iti(
        self, section: Section, name: str, default=MISSING, n_events: int | None = None
    ) -> ITISpec | None:
        node = section.node(name)
        if node is None or node.value is None:
            if default is MISSING:
                section.fail(
                    name,
                    "an ITI: seconds, or {uniform|choice|sequence|trs: [...]} (required)",
                    "nothing",
                )
            return None if default is None else ITISpec("fixed", (float(default),))
        if not node.is_mapping:
            seconds = section.number(name, ge=0, le=300, what="seconds", range_hint=DRAW_HINT)
            return ITISpec("fixed", (seconds,))
        spec = section.section(name, ("uniform", "choice", "sequence", "trs"))
        if len(spec.items) != 1:
            raise ProtocolError(
                self.shown,
                spec.line,
                spec.key,
                "exactly one of uniform, choice, sequence, trs",
                f"{len(spec.items)} of them",
            )
        kind = next(iter(spec.items))
        nodes = spec.sequence(kind, what="a list of numbers")
        key = spec.sub(kind)
        if kind == "trs":
            if self.scanner is None:
                spec.fail(
                    kind,
                    "seconds, uniform, choice or sequence (trs needs a scanner block with a TR)",
                    describe(spec.node(kind)),
                )
            values = tuple(
                float(spec.check_integer(n, f"{key}[{i}]", "a whole number of TRs >= 0", ge=0))
                for i, n in enumerate(nodes)
            )
        else:
            values = tuple(
                spec.check_number(n, f"{key}[{i}]", "seconds >= 0 and <= 300", ge=0, le=300)
                for i, n in enumerate(nodes)
            )
        if kind in ("uniform", "trs"):
            if len(values) != 2:
                spec.fail(kind, "[low, high]", describe(spec.node(kind)))
            if values[1] < values[0]:
                spec.fail(
                    kind, f"[low, high] with high >= low ({values[0]:g})", f"high {values[1]:g}"
                )
        if kind == "sequence" and n_events is not None and len(values) != n_events:
            spec.fail(kind, f"one ITI per trial ({n_events})", f"{len(values)} ITIs")
        tr = self.scanner.tr if kind == "trs" and self.scanner is not None else None
        return ITISpec(kind, values, tr)

    # -- sessions and caps ---------------------------------------------------------------

    def read_sessions(self, top: Section) -> tuple[SessionSpec, ...]:
        nodes = top.sequence("sessions", None, what="a list of sessions")
        if nodes is None:
            return (
                SessionSpec(
                    "1", 0, tuple(self.phases), self.scanner is not None, self.source(top.line)
                ),
            )
        sessions: list[SessionSpec] = []
        for i, node in enumerate(nodes):
            section = Section(
                self.shown,
                node,
                f"sessions[{i}]",
                key_names(declared.SESSION),
                collector=self.errors,
            )
            name = section.text("name", pattern=LABEL, what=f"a BIDS session label ({LABEL_WHAT})")
            if any(s.name == name for s in sessions):
                section.fail("name", "a session name used once", f"'{name}' again")
            day = section.integer(
                "day",
                0 if not sessions else MISSING,
                ge=0,
                le=3650,
                what="days after the first session",
            )
            if sessions and day < sessions[-1].day:
                section.fail(
                    "day", f"a day >= the previous session's ({sessions[-1].day})", str(day)
                )
            phase_nodes = section.sequence("phases", what="a list of phase names")
            names: list[str] = []
            for j, pnode in enumerate(phase_nodes):
                key = f"{section.sub('phases')}[{j}]"
                pname = section.check_text(pnode, key, "a phase name")
                if pname not in self.phases:
                    raise ProtocolError(
                        self.shown,
                        pnode.line,
                        key,
                        "the name of a phase defined under phases",
                        f"'{pname}'",
                        suggest(pname, self.phases),
                    )
                if pname in names:
                    raise ProtocolError(
                        self.shown,
                        pnode.line,
                        key,
                        "each phase once per session",
                        f"'{pname}' again",
                    )
                names.append(pname)
            scanner = section.boolean("scanner", self.scanner is not None)
            if scanner and self.scanner is None:
                section.fail("scanner", "false (the protocol has no scanner block)", "true")
            for pname in names:
                phase = self.phases[pname]
                if not scanner and KINDS[phase.type].scanner_locked(phase):
                    section.fail(
                        "scanner", f"true (phase '{pname}' is locked to the scanner)", "false"
                    )
            sessions.append(
                SessionSpec(name, day, tuple(names), scanner, self.source(section.line))
            )
        return tuple(sessions)

    def read_arms(self, top: Section, sessions: tuple[SessionSpec, ...]) -> dict[str, ArmSpec]:
        """The between-subject arms: each is the sessions as written, with phases replaced
        or left out and sessions left out (checked against the sessions' phases)."""
        block = top.section("arms", None, None)
        if block is None:
            return {}
        if len(block.items) < 2:
            block.fail(
                "arms", "two or more arms (one arm is no comparison)", describe(top.node("arms"))
            )
        keys = key_names(declared.ARM)
        return self.errors.each(
            block.items,
            lambda name: self.read_arm(block, name, keys, sessions),
            name="arms",
        )

    def read_arm(
        self, block: Section, name: str, keys, sessions: tuple[SessionSpec, ...]
    ) -> ArmSpec:
        block.check_text(
            Node(name, block.key_lines[name]), block.sub(name), NAME_WHAT, pattern=NAME
        )
        section = Section(
            self.shown, block.child(name), block.sub(name), keys, collector=self.errors
        )
        description = section.text("description", None, what="one line saying what the arm does")
        run = {p for s in sessions for p in s.phases}
        replaced: dict[str, str] = {}
        swaps = section.section("replace", None, None)
        for old, node in (swaps.items if swaps is not None else {}).items():
            assert swaps is not None  # items of an absent block are none
            key = swaps.sub(old)
            if old not in run:
                raise ProtocolError(
                    self.shown,
                    swaps.key_lines[old],
                    key,
                    "a phase that a session runs",
                    f"'{old}'",
                    suggest(old, sorted(run)),
                )
            new = swaps.check_text(node, key, "the name of a phase defined under phases")
            if new not in self.phases:
                raise ProtocolError(
                    self.shown,
                    node.line,
                    key,
                    "the name of a phase defined under phases",
                    f"'{new}'",
                    suggest(new, self.phases),
                )
            replaced[old] = new
        omitted: list[str] = []
        session_names = [s.name for s in sessions]
        for i, node in enumerate(
            section.sequence("omit", None, what="a list of phase or session names") or []
        ):
            key = f"{section.sub('omit')}[{i}]"
            what = section.check_text(node, key, "a phase or session name")
            if what not in run and what not in session_names:
                raise ProtocolError(
                    self.shown,
                    node.line,
                    key,
                    "a phase that a session runs, or a session name",
                    f"'{what}'",
                    suggest(what, [*sorted(run), *session_names]),
                )
            if what in replaced:
                raise ProtocolError(
                    self.shown, node.line, key, "a phase not also replaced", f"'{what}'"
                )
            omitted.append(what)
        variant: list[SessionSpec] = []
        for session in sessions:
            if session.name in omitted:
                continue
            phases = tuple(replaced.get(p, p) for p in session.phases if p not in omitted)
            if not phases:
                section.fail(
                    "omit",
                    f"a session left with a phase (omit session {session.name} itself)",
                    "every phase of it omitted",
                )
            if len(set(phases)) != len(phases):
                section.fail(
                    "replace",
                    f"each phase once per session ({session.name} would run one twice)",
                    ", ".join(phases),
                )
            for pname in phases:
                if not session.scanner and KINDS[self.phases[pname].type].scanner_locked(
                    self.phases[pname]
                ):
                    section.fail(
                        "replace",
                        f"a phase that runs outside the scanner (session {session.name})",
                        f"'{pname}' (locked to the scanner)",
                    )
            variant.append(replace(session, phases=phases))
        if not variant:
            section.fail("omit", "at least one session left", "every session omitted")
        return ArmSpec(
            name=name,
            description=description,
            replace=MappingProxyType(replaced),
            omit=tuple(omitted),
            sessions=tuple(variant),
            source=self.source(section.line),
        )

    def check_caps(self, top: Section, session: SessionSpec) -> None:
        if self.safety is None:
            return
        shocks = sum(
            KINDS[phase.type].shocks(phase, self.us)
            for phase in (self.phases[name] for name in session.phases)
        )
        if shocks > self.safety.max_shocks:
            raise ProtocolError(
                self.shown,
                session.source.line,
                f"sessions.{session.name}",
                f"at most safety.max_shocks ({self.safety.max_shocks}) shocks in a session",
                f"{shocks} scheduled shocks",
            )
