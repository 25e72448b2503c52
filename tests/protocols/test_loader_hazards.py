"""Protocol mistakes that used to validate and then harmed a session (issue 15): reserved
keys as pulse keys, a US longer than its CS, NUL bytes in texts, absurd durations, numbers
YAML reads as text, a scanner timeout shorter than a TR. Each is one line now."""

from __future__ import annotations

import re

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.loader import load_protocol

SCANNER = '\nscanner:\n  tr: 2\n  dummy_volumes: 5\n  sync: "{sync}"\n  timeout: {timeout}\n'
ONLINE = (
    "    cs_duration: 4\n    iti: {uniform: [8, 12]}\n"
    "    rating: {question: Expect a shock, scale: [1, 9], onset: 0, window: 3}\n"
)


def rejected(write, text: str, pattern: str) -> str:
    path = write(text)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(pattern, message), message
    return message


def scanned(minimal: str, sync: str = "key:5", timeout: float = 30) -> str:
    text = minimal.replace(
        "    phases: [acquisition, extinction]",
        "    phases: [acquisition, extinction]\n    scanner: true",
    )
    return text + SCANNER.format(sync=sync, timeout=timeout)


@pytest.mark.parametrize("key", ["escape", "space", "f12", "y", "n"])
def test_reserved_key_is_not_a_pulse_key(write, minimal, key):
    """`sync: key:escape` (ten Escapes became pulses: no emergency stop) is rejected."""
    rejected(
        write,
        scanned(minimal, f"key:{key}"),
        r":\d+: scanner\.sync: expected a trigger key other than",
    )


def test_pulse_key_used_by_a_rating_is_rejected(write, minimal, edit):
    """The default `key:5` with a 1-9 rating of a scanner session: 5 could never be answered."""
    text = edit(scanned(minimal), "    cs_duration: 4\n    iti: {uniform: [8, 12]}\n", ONLINE)
    rejected(write, text, r"scanner\.sync: expected a pulse key .* \(phase acquisition uses '5'")
    load_protocol(write(text.replace('sync: "key:5"', 'sync: "key:t"')))


def test_reserved_event_and_rating_keys_are_rejected(write, minimal, edit):
    """F12 (ends a wait) cannot be a wait's event key; space cannot be a rating key."""
    wait = minimal.replace(
        "  extinction:\n",
        "  pause:\n    type: wait\n    duration: 60\n    event_keys: {f12: x}\n  extinction:\n",
    ).replace("[acquisition, extinction]", "[acquisition, pause, extinction]")
    rejected(
        write, wait, r"phases\.pause\.event_keys\.f12: expected a key other than escape, space, f12"
    )
    keys = edit(
        minimal,
        "    cs_duration: 4\n    iti: {uniform: [8, 12]}\n",
        ONLINE.replace("scale: [1, 9]", "scale: [1, 2], keys: [space, '2']"),
    )
    rejected(write, keys, r"rating\.keys: expected distinct keys other than escape, space and f12")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    cs_duration: 4\n    iti: {uniform", "    cs_duration: 0.1\n    iti: {uniform"),
        (
            "train: {pulse_width: 0.002, interval: 0.02, count: 10}",
            "train: {pulse_width: 0.002, interval: 0.02, count: 10}\n    duration: 100",
        ),
    ],
)
def test_us_longer_than_its_cs_is_rejected(write, minimal, edit, old, new):
    """A CS shorter than its US gave a negative US onset: the shock at CS onset, outlasting it."""
    rejected(
        write,
        edit(minimal, old, new),
        r"phases\.acquisition\.cs_duration: expected a CS at least as long as its US",
    )


def test_nul_in_a_text_is_rejected(write, minimal, edit):
    """An instructions text with a NUL (YAML "\\0") made the log unreadable."""
    text = edit(
        minimal, "    type: extinction\n", '    type: extinction\n    instructions: "Relax\\0now"\n'
    )
    rejected(
        write,
        text,
        r"phases\.extinction\.instructions: expected .* without control characters, got .*U\+0000",
    )


@pytest.mark.parametrize("value", ["1.0e+300", "100000"])
def test_absurd_durations_are_rejected(write, minimal, edit, value):
    """`lead_in: 1.0e+300` made every onset equal; durations are at most a day."""
    text = edit(minimal, "    type: extinction\n", f"    type: extinction\n    lead_in: {value}\n")
    rejected(write, text, r"phases\.extinction\.lead_in: expected seconds >= 0 and <= 86400")


@pytest.mark.parametrize(
    ("value", "fix"), [("1e2", "1.0e+2"), ("2e-3", "2.0e-3"), ("1.0e1", "1.0e+1")]
)
def test_numbers_yaml_reads_as_text_say_why(write, minimal, edit, value, fix):
    """YAML 1.1 reads 1e2 as text: the message says so and how to write it."""
    text = edit(minimal, "    type: extinction\n", f"    type: extinction\n    lead_in: {value}\n")
    rejected(
        write, text, rf"got '{re.escape(value)}', which YAML reads as text: write {re.escape(fix)}"
    )


def test_scanner_timeout_shorter_than_a_tr_is_rejected(write, minimal):
    """The timeout is for the first pulse, which a running scanner sends within a TR."""
    rejected(
        write,
        scanned(minimal, timeout=1),
        r"scanner\.timeout: expected seconds for the first pulse \(>= tr\) >= 2 and <= 3600, got 1",
    )
    assert load_protocol(write(scanned(minimal, "key:t", timeout=5))).scanner.timeout == 5
