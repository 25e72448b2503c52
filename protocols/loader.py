"""Strict loading of protocol files.

:func:`load_protocol` returns a fully validated :class:`~pavlov.protocols.model.Protocol`
or raises one :class:`~pavlov.protocols.errors.ProtocolError` whose message is a single
line: ``path:line: key.path: expected X, got Y. Did you mean 'Z'?``. It never returns a
partial result. The format is documented key by key in ``protocols/README.md``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pavlov.protocols.errors import ProtocolError, ScheduleError, suggest
from pavlov.protocols.model import (
    CS_KINDS,
    PHASE_TYPES,
    RATING_INPUTS,
    REINFORCED_PHASE_TYPES,
    RESERVED_KEYS,
    SHAPES,
    SYNC_RESERVED_KEYS,
    TRIAL_PHASE_TYPES,
    US_KINDS,
    CalibrationSpec,
    Constraints,
    Counterbalancing,
    ITISpec,
    Phase,
    Protocol,
    PulseTrain,
    RatingSpec,
    SafetyCaps,
    ScannerSpec,
    SessionSpec,
    Source,
    StimulusSpec,
    USSpec,
    cs_type,
)
from pavlov.protocols.orders import FixedOrder, read_order
from pavlov.protocols.randomize import Stream, constrained_order
from pavlov.protocols.reader import MISSING, Collector, Section, describe
from pavlov.protocols.yamlio import Node, read_yaml
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

LABEL = r"[A-Za-z0-9]+"
LABEL_WHAT = "a label of letters and digits"
NAME = r"[A-Za-z][A-Za-z0-9_]*"
NAME_WHAT = "a name of letters, digits and _ (starting with a letter)"
ROLE = r"CS[+-][A-Za-z0-9]*"
COLOR = r"#[0-9a-fA-F]{6}|[A-Za-z]+"
COLOR_WHAT = "a colour (#rrggbb or a name such as white)"

#: What to suggest for an ITI written as a range of text (``iti: 10-14``).
DRAW_HINT = "{{uniform: [{low}, {high}]}}"

TOP_KEYS = (
    "pavlov",
    "study",
    "task",
    "seed",
    "cs",
    "us",
    "contexts",
    "counterbalancing",
    "scanner",
    "safety",
    "calibration",
    "phases",
    "sessions",
    "authors",
    "license",
)
CS_STIMULUS_KEYS = ("image", "shape", "text", "sound", "color", "size")
CONTEXT_STIMULUS_KEYS = ("image", "color")
TRIAL_PHASE_KEYS = (
    "type",
    "instructions",
    "trials",
    "reinforced",
    "reinforcement_rate",
    "cs_duration",
    "us",
    "us_onset",
    "iti",
    "lead_in",
    "context",
    "constraints",
    "order",
    "swap_roles",
    "rating",
)
PHASE_KEYS = {
    **{t: TRIAL_PHASE_KEYS for t in TRIAL_PHASE_TYPES},
    "reactivation": (
        "type",
        "instructions",
        "reminder",
        "cs_duration",
        "script",
        "duration",
        "iti",
        "lead_in",
        "context",
    ),
    "wait": ("type", "instructions", "duration", "countdown", "event_keys", "text"),
    "reinstatement": ("type", "instructions", "us", "us_count", "iti", "lead_in", "context"),
    "rating": ("type", "instructions", "rate", "rating", "iti", "context"),
    "instructions": ("type", "text", "duration", "advance"),
    "rest": ("type", "instructions", "duration", "wait_for_scanner", "text"),
}
RATING_KEYS = ("question", "scale", "anchors", "input", "keys", "onset", "window")
DEFAULT_QUESTION = "How much do you expect a shock?"


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
    text, root = read_yaml(path, "a protocol file")
    return _ProtocolReader(shown, Path(path).resolve(), text).read(root)


class _ProtocolReader:
    def __init__(self, shown: str, path: Path, text: str) -> None:
        self.shown = shown
        self.path = path
        self.folder = path.parent
        self.text = text
        self.train_lines: dict[str, int] = {}

    def source(self, line: int) -> Source:
        return Source(str(self.path), line)

    # -- top level ---------------------------------------------------------------------

    def read(self, root: Node) -> Protocol:
        # Every independent mistake in one run: each block, US, stimulus set, phase and the
        # sessions are units of their own; a unit that needs a failed one is skipped, and
        # the checks across the whole file run only on a file without other mistakes.
        errors = self.errors = Collector()
        attempt = errors.attempt
        top = Section(self.shown, root, "", TOP_KEYS, errors)
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
        cs_section = attempt(lambda: self.read_cs_roles(top), name="cs")
        # Phases need the roles only: a broken stimulus does not hide their mistakes.
        attempt(lambda: self.read_cs_stimuli(cs_section), needs=("cs",))
        self.us = attempt(lambda: self.read_us_block(top), name="us") or {}
        self.context_roles = ()
        self.contexts: dict[str, StimulusSpec] = {}
        attempt(lambda: self.read_contexts_block(top), name="contexts")

        counterbalancing = attempt(lambda: self.read_counterbalancing(top))
        self.scanner = attempt(lambda: self.read_scanner(top), name="scanner")
        self.safety = attempt(lambda: self.read_safety(top), name="safety", needs=("us",))
        calibration = attempt(lambda: self.read_calibration(top), needs=("us",))

        phases_section = attempt(lambda: top.section("phases", None), name="phases")
        self.phases: dict[str, Phase] = {}
        for name in phases_section.items if phases_section is not None else ():
            phase = attempt(
                lambda name=name: self.read_phase(phases_section, name),
                name=f"phase {name}",
                needs=("cs", "us", "contexts", "scanner"),
            )
            if phase is None:
                errors.failed.add("phases")
            else:
                self.phases[name] = phase
        if phases_section is not None and not phases_section.items:
            attempt(lambda: top.fail("phases", "at least one phase", "an empty mapping"))
        sessions = attempt(lambda: self.read_sessions(top), needs=("phases",))
        errors.finish()
        for session in sessions:
            self.check_caps(top, session)
        self.check_sync_key(sessions)
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
        cs_section = top.section("cs", ("roles", "stimuli"))
        self.cs_roles = self.read_roles(cs_section, ROLE, "a CS role such as CS+, CS- or CS+R")
        if not any(cs_type(r) == "CS+" for r in self.cs_roles):
            cs_section.fail("roles", "at least one CS+ role", describe(cs_section.node("roles")))
        return cs_section

    def read_cs_stimuli(self, cs_section: Section) -> None:
        self.cs = self.read_stimuli(cs_section, len(self.cs_roles), CS_STIMULUS_KEYS, self.read_cs)

    def read_contexts_block(self, top: Section) -> None:
        ctx_section = top.section("contexts", ("roles", "stimuli"), None)
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
        if self.scanner is None or not self.scanner.sync.startswith("key:"):
            return
        key = self.scanner.sync[4:]
        for session in sessions:
            if not session.scanner:
                continue
            for name in session.phases:
                phase = self.phases.get(name)
                if phase is None:
                    continue
                rating = phase.rating
                used = list(rating.keys) if rating is not None else []
                used += list(getattr(phase, "event_keys", None) or {})
                if key in used:
                    self.scanner_section.fail(
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
            block.node(name),
            block.sub(name),
            ("type", "train", "duration", "file", "volume"),
        )
        kind = first.choice("type", US_KINDS)
        allowed = {
            "shock": ("type", "train", "duration"),
            "sound": ("type", "file", "duration", "volume"),
            "image": ("type", "file", "duration"),
        }[kind]
        section = Section(self.shown, block.node(name), block.sub(name), allowed, self.errors)
        source = self.source(section.line)
        if kind == "shock":
            train_section = section.section("train", ("pulse_width", "interval", "count"))
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
            section.number("volume", 1.0, ge=0, le=1, what="a volume") if kind == "sound" else 1.0
        )
        return USSpec(name, kind, duration, source, file=file, volume=volume)

    def read_counterbalancing(self, top: Section) -> Counterbalancing:
        section = top.section("counterbalancing", ("cs", "contexts"), None)
        if section is None:
            return Counterbalancing()
        return Counterbalancing(
            cs=section.choice("cs", ("permute", "fixed"), "permute"),
            contexts=section.choice("contexts", ("permute", "fixed"), "permute"),
        )

    def read_scanner(self, top: Section) -> ScannerSpec | None:
        section = top.section("scanner", ("tr", "dummy_volumes", "sync", "timeout"), None)
        self.scanner_section = section
        if section is None:
            return None
        sync = section.text(
            "sync", "key:5", pattern=r"(key|serial|simulated)(:.*)?", what="a trigger such as key:5"
        )
        kind, _, key = sync.partition(":")
        if kind == "key" and (not key or key.lower() in SYNC_RESERVED_KEYS):
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
        section = top.section(
            "safety", ("max_shocks", "max_train_duration"), MISSING if has_shock else None
        )
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
        keys = ("scale", "target", "target_text", "start_ma", "step_ma", "ceiling_ma", "max_steps")
        section = top.section("calibration", keys, None)
        if section is None:
            return None
        low, high = self.read_scale(section, "scale", (1, 10))
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

    def read_scale(self, section: Section, name: str, default) -> tuple[int, int]:
        nodes = section.sequence(name, None, min_len=2, what="[low, high]")
        if nodes is None:
            return default
        if len(nodes) != 2:
            section.fail(name, "[low, high]", f"a list of {len(nodes)}")
        low = section.check_integer(nodes[0], f"{section.sub(name)}[0]", "a whole number")
        high = section.check_integer(nodes[1], f"{section.sub(name)}[1]", f"a whole number > {low}")
        if high <= low:
            raise ProtocolError(
                self.shown,
                nodes[1].line,
                f"{section.sub(name)}[1]",
                f"a whole number > {low}",
                str(high),
            )
        return low, high

    # -- phases ------------------------------------------------------------------------

    def read_phase(self, phases: Section, name: str) -> Phase:
        key = phases.sub(name)
        phases.check_text(Node(name, phases.key_lines[name]), key, NAME_WHAT, pattern=NAME)
        node = phases.node(name)
        probe = Section(self.shown, node, key, None)
        ptype = probe.choice("type", PHASE_TYPES)
        section = Section(self.shown, node, key, PHASE_KEYS[ptype], self.errors)
        common = dict(name=name, type=ptype, source=self.source(section.line))
        if ptype != "instructions":
            common["instructions"] = section.text("instructions", None)
        if ptype in TRIAL_PHASE_TYPES:
            return self.read_trial_phase(section, common)
        if ptype == "reactivation":
            return self.read_reactivation(section, common)
        if ptype == "wait":
            keys = section.section("event_keys", None, None)
            event_keys = {}
            if keys is not None:
                for k in keys.items:
                    keys.check_text(
                        Node(k, keys.key_lines[k]),
                        keys.sub(k),
                        "a single key name",
                        pattern=r"[a-z0-9]|f[0-9]{1,2}|[a-z]+",
                    )
                    if k in RESERVED_KEYS:
                        keys.fail(
                            k,
                            f"a key other than {', '.join(RESERVED_KEYS)} (they are reserved)",
                            f"'{k}'",
                        )
                    event_keys[k] = keys.text(
                        k, pattern=r"[A-Za-z0-9_]+", what="an event label (letters, digits, _)"
                    )
            return self._wait(section, common, event_keys)
        if ptype == "reinstatement":
            us = self.read_phase_us(section, required=True)
            return Phase(
                **common,
                us=us,
                us_count=section.integer(
                    "us_count", ge=1, le=50, what="a number of unsignalled USs"
                ),
                iti=self.read_iti(section, "iti"),
                lead_in=section.number("lead_in", 0.0, ge=0, what="seconds"),
                context=self.read_context_role(section),
            )
        if ptype == "rating":
            rate_nodes = section.sequence("rate", None, what="a list of CS roles")
            rate = (
                tuple(
                    self.check_role(section, n, f"{section.sub('rate')}[{i}]")
                    for i, n in enumerate(rate_nodes)
                )
                if rate_nodes
                else self.cs_roles
            )
            if len(set(rate)) != len(rate):
                section.fail("rate", "each CS role once", describe(section.node("rate")))
            return Phase(
                **common,
                rate=rate,
                rating=self.read_rating(section, online_cs_duration=None, required=True),
                iti=self.read_iti(section, "iti", default=1.0),
                context=self.read_context_role(section),
            )
        if ptype == "instructions":
            return Phase(
                **common,
                instructions=section.text("text"),
                duration=section.number(
                    "duration", 0.0, ge=0, what="seconds (minimum display time)"
                ),
                advance=section.choice("advance", ("key", "time"), "key"),
            )
        # rest
        wait_for_scanner = section.boolean("wait_for_scanner", False)
        if wait_for_scanner and self.scanner is None:
            section.fail("wait_for_scanner", "false (the protocol has no scanner block)", "true")
        return Phase(
            **{**common, "instructions": section.text("text", common.get("instructions"))},
            duration=section.number("duration", gt=0, what="seconds"),
            wait_for_scanner=wait_for_scanner,
        )

    def _wait(self, section: Section, common: dict, event_keys: dict) -> Phase:
        text = section.text("text", None)
        return Phase(
            **{**common, "instructions": text or common.get("instructions") or "Please wait."},
            duration=section.number("duration", gt=0, what="seconds"),
            countdown=section.boolean("countdown", True),
            event_keys=event_keys,
        )

    def read_trial_phase(self, section: Section, common: dict) -> Phase:
        ptype = common["type"]
        cs_duration = section.number("cs_duration", gt=0, le=60, what="seconds")
        orders = self.read_orders(section)
        trials = self.read_role_counts(section, "trials", orders)
        reinforced = self.read_reinforced(section, trials, orders)
        if orders:
            for order in orders:
                counted = order.trial_counts()
                if section.has("trials") and counted != {r: n for r, n in trials.items() if n}:
                    raise ProtocolError(
                        self.shown,
                        section.line_of("order"),
                        section.sub("order"),
                        f"an order matching trials ({_counts(trials)})",
                        f"{order.path} with {_counts(counted)}",
                    )
                if section.has("reinforced") and order.reinforced_counts() != {
                    r: n for r, n in reinforced.items() if n
                }:
                    raise ProtocolError(
                        self.shown,
                        section.line_of("order"),
                        section.sub("order"),
                        f"an order matching reinforced ({_counts(reinforced)})",
                        f"{order.path} with {_counts(order.reinforced_counts())}",
                    )
        if reinforced and ptype not in REINFORCED_PHASE_TYPES:
            field = (
                "reinforced"
                if section.has("reinforced")
                else ("reinforcement_rate" if section.has("reinforcement_rate") else "order")
            )
            section.fail(
                field,
                f"no reinforced trials in a phase of type {ptype} "
                f"(only in {', '.join(REINFORCED_PHASE_TYPES)})",
                _counts(reinforced),
            )
        us = self.read_phase_us(section, required=bool(reinforced))
        us_onset = None
        if us is not None and ptype != "habituation":
            us_spec = self.us[us]
            us_onset = section.number(
                "us_onset", cs_duration - us_spec.duration, ge=0, what="seconds after CS onset"
            )
            if us_onset < 0:
                # The default onset (co-terminating) of a US longer than the CS would come
                # before the CS and outlast it.
                section.fail(
                    "cs_duration",
                    f"a CS at least as long as its US ('{us}' lasts {us_spec.duration:g} s)",
                    f"{cs_duration:g} s",
                )
            if us_onset + us_spec.duration > cs_duration + 1e-9:
                section.fail(
                    "us_onset" if section.has("us_onset") else "cs_duration",
                    f"the US to end by the end of the CS ({cs_duration:g} s; US '{us}' lasts {us_spec.duration:g} s)",
                    f"a US ending at {us_onset + us_spec.duration:g} s",
                )
        elif section.has("us_onset"):
            section.fail(
                "us_onset",
                "no us_onset in a phase without a US",
                describe(section.node("us_onset")),
            )
        n_events = sum(trials.values()) if not orders else max(len(o.rows) for o in orders)
        if orders and any(o.has_iti for o in orders):
            if not all(o.has_iti for o in orders):
                section.fail("order", "order files that all give ITIs, or none", "a mix")
            if section.has("iti"):
                got = describe(section.node("iti"))
                section.fail("iti", "no iti when the order files give the ITIs", got)
            iti = None
        else:
            iti = self.read_iti(section, "iti", n_events=n_events)
        constraints = self.read_constraints(section, trials, reinforced)
        swap = None
        if section.has("swap_roles"):
            nodes = section.sequence("swap_roles", what="two CS roles")
            if len(nodes) != 2:
                section.fail("swap_roles", "two CS roles", describe(section.node("swap_roles")))
            swap = tuple(
                self.check_role(section, n, f"{section.sub('swap_roles')}[{i}]")
                for i, n in enumerate(nodes)
            )
            if swap[0] == swap[1]:
                section.fail(
                    "swap_roles", "two different CS roles", describe(section.node("swap_roles"))
                )
        rating = self.read_rating(section, online_cs_duration=cs_duration, required=False)
        return Phase(
            **common,
            trials=trials,
            reinforced=reinforced,
            cs_duration=cs_duration,
            us=us,
            us_onset=us_onset,
            iti=iti,
            lead_in=section.number("lead_in", 0.0, ge=0, what="seconds"),
            context=self.read_context_role(section),
            constraints=constraints,
            orders=tuple(o.path for o in orders),
            swap_roles=swap,
            rating=rating,
        )

    def read_orders(self, section: Section) -> list[FixedOrder]:
        node = section.node("order")
        if node is None:
            return []
        nodes = node.value if node.is_sequence else [node]
        if not nodes:
            section.fail("order", "a CSV file or a list of CSV files", "an empty list")
        orders = []
        for i, item in enumerate(nodes):
            key = section.sub("order") + (f"[{i}]" if node.is_sequence else "")
            written = section.check_text(item, key, "the path of a CSV order file")
            path = resolve(written, self.folder)
            if path is None:
                raise ProtocolError(
                    self.shown,
                    item.line,
                    key,
                    "an existing CSV order file",
                    f"'{written}'",
                    near_name(written, self.folder),
                )
            orders.append(read_order(path, self.cs_roles, shown=written))
        return orders

    def read_role_counts(
        self, section: Section, name: str, orders: list[FixedOrder]
    ) -> dict[str, int]:
        node = section.node(name)
        if node is None or node.value is None:
            if orders:
                return orders[0].trial_counts()
            section.fail(
                name, "a number of trials per CS, or a mapping role: trials (required)", "nothing"
            )
        if not node.is_mapping:
            n = section.integer(name, ge=1, le=1000, what="a number of trials per CS")
            return {role: n for role in self.cs_roles}
        counts_section = section.section(name, self.cs_roles)
        counts = {
            role: counts_section.integer(role, 0, ge=0, le=1000, what="a number of trials")
            for role in self.cs_roles
        }
        if not any(counts.values()):
            section.fail(name, "at least one trial", "0 trials")
        return counts

    def read_reinforced(
        self, section: Section, trials: dict[str, int], orders: list[FixedOrder]
    ) -> dict[str, int]:
        if section.has("reinforced") and section.has("reinforcement_rate"):
            section.fail(
                "reinforcement_rate", "either reinforced or reinforcement_rate, not both", "both"
            )
        reinforceable = tuple(r for r in self.cs_roles if cs_type(r) == "CS+")
        if section.has("reinforced"):
            counts_section = section.section("reinforced", reinforceable)
            out = {}
            for role in counts_section.items:
                n = counts_section.integer(role, ge=0, what="a number of reinforced trials")
                if n > trials.get(role, 0):
                    counts_section.fail(
                        role, f"at most the {role} trial count ({trials.get(role, 0)})", str(n)
                    )
                if n:
                    out[role] = n
            return out
        if section.has("reinforcement_rate"):
            rates = section.section("reinforcement_rate", reinforceable)
            out = {}
            for role in rates.items:
                rate = rates.number(role, ge=0, le=1, what="a rate from 0 to 1")
                n = int(rate * trials.get(role, 0) + 0.5)  # round half up, documented
                if rate > 0 and n == 0:
                    rates.fail(
                        role,
                        f"a rate giving at least one reinforced trial of {trials.get(role, 0)}",
                        f"{rate:g}",
                    )
                if n:
                    out[role] = n
            return out
        if orders:
            return orders[0].reinforced_counts()
        return {}

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
        return ITISpec(kind, values, self.scanner.tr if kind == "trs" else None)

    def read_constraints(
        self, section: Section, trials: dict[str, int], reinforced: dict[str, int]
    ) -> Constraints:
        block = section.section(
            "constraints",
            ("max_run", "first_reinforced", "spread_reinforced", "start_with_pair"),
            None,
        )
        default = Constraints(first_reinforced=bool(reinforced))
        if block is None:
            constraints = default
        else:
            constraints = Constraints(
                max_run=block.integer(
                    "max_run", default.max_run, ge=1, le=1000, what="a number of trials"
                ),
                first_reinforced=block.boolean("first_reinforced", default.first_reinforced),
                spread_reinforced=block.boolean("spread_reinforced", default.spread_reinforced),
                start_with_pair=block.boolean("start_with_pair", default.start_with_pair),
            )
        counts = [n for n in trials.values() if n]
        total, largest = sum(counts), max(counts)
        if largest > constraints.max_run * (total - largest + 1):
            where = "constraints" if block is not None else "trials"
            section.fail(
                where,
                f"trial counts that can keep max_run {constraints.max_run} (at most {constraints.max_run * (total - largest + 1)} trials of one CS with {total - largest} others)",
                f"{largest} trials of one CS",
            )
        if constraints.start_with_pair:
            types = {cs_type(r) for r, n in trials.items() if n}
            if types != {"CS+", "CS-"}:
                block.fail(
                    "start_with_pair",
                    "false (the phase needs both CS+ and CS- trials for a first pair)",
                    "true",
                )
        try:  # the search is exhaustive: if it fails for one seed it fails for all
            constrained_order(
                {r: n for r, n in trials.items() if n},
                constraints.max_run,
                constraints.start_with_pair,
                Stream(0),
            )
        except ScheduleError:
            where = "constraints" if block is not None else "trials"
            section.fail(
                where,
                f"trial counts that allow an order keeping max_run {constraints.max_run}"
                + (" and starting with a CS+/CS- pair" if constraints.start_with_pair else ""),
                _counts(trials),
            )
        return constraints

    def read_rating(
        self, parent: Section, online_cs_duration: float | None, required: bool
    ) -> RatingSpec | None:
        section = parent.section("rating", RATING_KEYS, MISSING if required else None)
        if section is None:
            return None
        low, high = self.read_scale(section, "scale", (0, 10))
        anchors_nodes = section.sequence("anchors", None, min_len=2, what="[low label, high label]")
        if anchors_nodes is None:
            anchors = ("certainly no shock", "certainly a shock")
        else:
            if len(anchors_nodes) != 2:
                section.fail(
                    "anchors", "[low label, high label]", describe(section.node("anchors"))
                )
            anchors = tuple(
                section.check_text(n, f"{section.sub('anchors')}[{i}]", "a label")
                for i, n in enumerate(anchors_nodes)
            )
        n_points = high - low + 1
        default_input = "keys" if n_points <= 10 else "slider"
        input_kind = section.choice("input", RATING_INPUTS, default_input)
        keys: tuple[str, ...] = ()
        if input_kind == "keys":
            key_nodes = section.sequence("keys", None, what="a list of keys")
            if key_nodes is None and n_points > 10 and section.has("input"):
                section.fail(
                    "input",
                    f"slider for a {low}–{high} scale (input: keys needs one key per point: "
                    f"{n_points} points, and only 10 digit keys exist)",
                    "'keys'",
                )
            if key_nodes is None:
                if n_points > 10:
                    section.fail(
                        "keys",
                        f"one key per scale point ({n_points}; only 10 digit keys exist, or use input: slider)",
                        "nothing",
                    )
                keys = tuple(str((low + i) % 10) for i in range(n_points))
            else:
                keys = tuple(
                    str(
                        section.check_text(
                            Node(str(n.value), n.line), f"{section.sub('keys')}[{i}]", "a key name"
                        )
                    )
                    for i, n in enumerate(key_nodes)
                )
                if len(keys) != n_points:
                    section.fail(
                        "keys", f"one key per scale point ({n_points})", f"{len(keys)} keys"
                    )
                if len(set(keys)) != len(keys) or set(keys) & {"escape", "space", "f12"}:
                    section.fail(
                        "keys",
                        "distinct keys other than escape, space and f12 (reserved)",
                        describe(section.node("keys")),
                    )
        elif section.has("keys"):
            section.fail("keys", "no keys with input: slider", describe(section.node("keys")))
        if online_cs_duration is None:
            onset = section.number(
                "onset", 0.0, ge=0, le=0, what="0 (post-phase ratings start at once)"
            )
            window = section.number("window", 10.0, gt=0, le=120, what="seconds")
        else:
            onset = section.number(
                "onset",
                0.0,
                ge=0,
                what=f"seconds after CS onset, less than the CS ({online_cs_duration:g} s)",
            )
            if onset >= online_cs_duration:
                section.fail(
                    "onset",
                    f"seconds after CS onset, less than the CS ({online_cs_duration:g} s)",
                    f"{onset:g}",
                )
            window = section.number("window", online_cs_duration - onset, gt=0, what="seconds")
            if onset + window > online_cs_duration + 1e-9:
                section.fail(
                    "window",
                    f"a window ending by the end of the CS (at most {online_cs_duration - onset:g} s)",
                    f"{window:g}",
                )
        return RatingSpec(
            question=section.text("question", DEFAULT_QUESTION),
            low=low,
            high=high,
            anchors=anchors,
            input=input_kind,
            keys=keys,
            onset=onset,
            window=window,
            source=self.source(section.line),
        )

    def read_reactivation(self, section: Section, common: dict) -> Phase:
        if section.has("reminder") == section.has("script"):
            raise ProtocolError(
                self.shown,
                section.line,
                section.key,
                "exactly one of reminder (a CS role) or script (an audio file)",
                "both" if section.has("script") else "neither",
            )
        lead_in = section.number("lead_in", 0.0, ge=0, what="seconds")
        iti = self.read_iti(section, "iti", default=0.0)
        context = self.read_context_role(section)
        if section.has("reminder"):
            role = self.check_role(section, section.node("reminder"), section.sub("reminder"))
            if section.has("duration"):
                section.fail("duration", "cs_duration for a reminder CS", "duration")
            return Phase(
                **common,
                reminder=role,
                cs_duration=section.number("cs_duration", gt=0, le=600, what="seconds"),
                iti=iti,
                lead_in=lead_in,
                context=context,
            )
        if section.has("cs_duration"):
            section.fail("cs_duration", "duration for a script", "cs_duration")
        template = self.read_file(section, "script", "sound", template=True)
        return Phase(
            **common,
            script=template,
            duration=section.number(
                "duration", gt=0, le=3600, what="seconds (playback and the imagery after it)"
            ),
            iti=iti,
            lead_in=lead_in,
            context=context,
        )

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
                ("name", "day", "phases", "scanner"),
                self.errors,
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
                if not scanner and (
                    phase.wait_for_scanner or (phase.iti and phase.iti.kind == "trs")
                ):
                    section.fail(
                        "scanner", f"true (phase '{pname}' is locked to the scanner)", "false"
                    )
            sessions.append(
                SessionSpec(name, day, tuple(names), scanner, self.source(section.line))
            )
        return tuple(sessions)

    def check_caps(self, top: Section, session: SessionSpec) -> None:
        if self.safety is None:
            return
        shocks = 0
        for pname in session.phases:
            phase = self.phases[pname]
            if phase.us is None or self.us[phase.us].kind != "shock":
                continue
            shocks += (
                phase.us_count if phase.type == "reinstatement" else sum(phase.reinforced.values())
            )
        if shocks > self.safety.max_shocks:
            raise ProtocolError(
                self.shown,
                session.source.line,
                f"sessions.{session.name}",
                f"at most safety.max_shocks ({self.safety.max_shocks}) shocks in a session",
                f"{shocks} scheduled shocks",
            )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{r}: {n}" for r, n in counts.items() if n) or "none"
