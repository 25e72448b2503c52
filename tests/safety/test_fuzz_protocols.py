"""Fuzzed protocol files (issue 6, item 3): every invalid file is rejected with the one-line
``path:line: key: expected X, got Y`` message, never a traceback or a hang, and every file
that loads schedules for every session and several participants.

Inputs: random YAML documents, and mutations of the bundled protocols (lines deleted,
duplicated or swapped, numbers made negative/zero/huge/text, keys misspelt, random bytes,
truncation). CI runs the ``ci`` Hypothesis profile (200 examples per target, 2 s deadline
each); ``HYPOTHESIS_PROFILE=long python -m pytest tests/safety -m long`` runs thousands.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pavlov.common.errors import PavlovError
from pavlov.protocols import build_schedule, load_protocol
from pavlov.protocols.errors import ProtocolError, error_lines

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
BUNDLED = {p.stem: p.read_text(encoding="utf-8") for p in sorted(PROTOCOLS.glob("*.yaml"))}
LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?:[^ ].*?: )?expected .+, got .+$")
KEYS = sorted(
    {"pavlov", "study", "task", "seed", "cs", "us", "phases", "sessions", "safety", "scanner"}
    | {"trials", "reinforced", "cs_duration", "iti", "type", "train", "count", "max_shocks"}
)


def check_protocol_text(text: str | bytes, name: str = "protocol.yaml") -> str:
    """Load ``text`` beside the bundled stimuli; return 'ok' or 'rejected' (else fail)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        try:
            protocol = load_protocol(path)
        except ProtocolError as error:
            lines = error_lines(error)  # every independent mistake, one line each
            assert 1 <= len(lines) <= 20
            for message in lines:
                assert "\n" not in message and "Traceback" not in message
                assert LINE.match(message), message
                assert message.startswith(f"{path}:")
            return "rejected"
        # A protocol that loads must schedule every session, for several participants.
        for session in protocol.sessions:
            for participant in ("1", "02", "P17"):
                schedule = build_schedule(protocol, participant, session.name)
                assert schedule.events or not session.phases
        return "ok"


def mutate(text: str, data) -> str:
    """Apply 1-3 random edits of the kinds a hurried user (or a bad disk) makes."""
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        kind = data.draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "number", "typo", "bytes", "truncate", "indent"]
            ),
            label="kind",
        )
        i = data.draw(st.integers(0, max(len(lines) - 1, 0)), label="line")
        if kind == "delete" and lines:
            del lines[i]
        elif kind == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif kind == "swap" and len(lines) > 1:
            j = data.draw(st.integers(0, len(lines) - 1), label="other")
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "number":
            numbers = [m for m in re.finditer(r"\b\d+(\.\d+)?\b", "\n".join(lines))]
            if numbers:
                whole = "\n".join(lines)
                m = data.draw(st.sampled_from(numbers), label="number")
                new = data.draw(
                    st.sampled_from(
                        ["-1", "0", "1e308", "-0.5", "nan", ".inf", "ten", "''", "999999"]
                    )
                )
                lines = (whole[: m.start()] + new + whole[m.end() :]).split("\n")
        elif kind == "typo" and lines:
            line = lines[i]
            m = re.match(r"^(\s*)([A-Za-z_+-]+):", line)
            if m and len(m.group(2)) > 2:
                key = m.group(2)
                k = data.draw(st.integers(0, len(key) - 1), label="at")
                key = key[:k] + key[k + 1 :]
                lines[i] = m.group(1) + key + ":" + line[m.end() :]
        elif kind == "bytes" and lines:
            junk = data.draw(st.text(min_size=1, max_size=8), label="junk")
            k = data.draw(st.integers(0, len(lines[i])), label="at")
            lines[i] = lines[i][:k] + junk + lines[i][k:]
        elif kind == "truncate":
            whole = "\n".join(lines)
            cut = data.draw(st.integers(0, len(whole)), label="cut")
            lines = whole[:cut].split("\n")
        elif kind == "indent" and lines:
            lines[i] = data.draw(st.sampled_from(["", " ", "  ", "\t"])) + lines[i]
    return "\n".join(lines)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["CS+", "CS-", "shock", "acquisition", "day1", "1", "{uniform: [1, 2]}"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=40,
)


@given(st.sampled_from(sorted(BUNDLED)), st.data())
def test_mutated_bundled_protocols_load_or_fail_in_one_line(name, data):
    """Mutations of the bundled protocols: loaded and scheduled, or one-line rejections."""
    check_protocol_text(mutate(BUNDLED[name], data))


@given(documents)
def test_random_yaml_documents_are_rejected_in_one_line(document):
    """Random YAML documents (nested maps, lists, scalars) never produce a traceback."""
    check_protocol_text(yaml.safe_dump(document, allow_unicode=True))


@given(
    st.fixed_dictionaries(
        {
            "pavlov": st.sampled_from([1, 2, "1", None]),
            "study": st.text(max_size=5),
            "task": st.sampled_from(["fear", "f ear", "", 3]),
            "seed": st.one_of(st.integers(-5, 10**20), st.floats()),
        },
        optional={"cs": documents, "us": documents, "phases": documents, "sessions": documents},
    )
)
def test_protocol_shaped_documents_are_rejected_in_one_line(document):
    """Documents with the right top-level keys and random contents fail in one line."""
    check_protocol_text(yaml.safe_dump(document, allow_unicode=True))


@given(st.binary(max_size=300))
def test_random_bytes_are_rejected_in_one_line(blob):
    """Arbitrary bytes (binary, bad UTF-8, control characters) are rejected in one line."""
    assert check_protocol_text(blob) == "rejected"


@pytest.mark.parametrize(
    "text",
    [
        # A billion laughs: aliases that expand exponentially.
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
            for i in range(9)
        ),
        # A recursive alias.
        "pavlov: 1\ncs: &x\n  roles: *x\n",
        "&a [*a]\n",
        # Deep nesting.
        "pavlov: " + "[" * 5000 + "]" * 5000 + "\n",
        # Merge key abuse.
        "pavlov: 1\ncs:\n  <<: [1, 2]\n",
    ],
    ids=["billion-laughs", "recursive-alias", "recursive-top", "deep-nesting", "bad-merge"],
)
def test_hostile_yaml_is_rejected_quickly_in_one_line(text):
    """Alias bombs, recursive aliases, deep nesting: one-line rejection, no hang or crash."""
    assert check_protocol_text(text) == "rejected"


def test_validate_subprocess_never_prints_a_traceback(tmp_path):
    """A few mutated files through the real `pavlov validate`: one stderr line per mistake
    (a truncated file has several), status 2."""
    name = "retrieval_extinction"
    text = BUNDLED[name]
    cases = [
        text.replace("max_shocks: ", "max_shocks: -"),
        text.replace("cs_duration:", "cs_duraton:", 1),
        text[: len(text) // 3],
        text.replace("seed:", "seed: [", 1),
        "\x00\x01binary",
        "a: &a [x, x]\nb: &b [*a, *a]\n" + "c: [*b, *b]\n",
    ]
    for i, case in enumerate(cases):
        path = tmp_path / f"p{i}.yaml"
        path.write_text(case, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pavlov.task.cli", "validate", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (case[:60], done.stderr)
        lines = done.stderr.strip().splitlines()  # one line per independent mistake
        assert 1 <= len(lines) <= 20 and "Traceback" not in done.stderr, done.stderr
        for line in lines:
            assert LINE.match(line.removeprefix("pavlov: ")) and str(path) in line, line


@pytest.mark.long
@given(st.sampled_from(sorted(BUNDLED)), st.data())
def test_mutated_bundled_protocols_long(name, data):
    """The long budget of the mutation fuzzer (run with -m long and HYPOTHESIS_PROFILE=long)."""
    check_protocol_text(mutate(BUNDLED[name], data))


def test_error_format_regex_rejects_other_messages():
    """The one-line pattern really tells a protocol message from other text."""
    assert LINE.match("p.yaml:3: cs.roles: expected a list, got 3")
    assert not LINE.match("Traceback (most recent call last):")
    with pytest.raises(PavlovError):
        raise ProtocolError("p.yaml", 1, "", "x", "y")
