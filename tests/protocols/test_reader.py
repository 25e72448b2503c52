"""Tests of pavlov.protocols.reader: typed reading, hints, and gathering every mistake."""

from __future__ import annotations

import pytest

from pavlov.common.yamlio import read_yaml
from pavlov.protocols.errors import ProtocolError, ProtocolErrors, error_lines
from pavlov.protocols.reader import MAX_ERRORS, Collector, Section


def section(tmp_path, text: str, allowed=None, collector=None) -> Section:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    _, root = read_yaml(path)
    return Section(str(path), root, "", allowed, collector=collector)


def test_range_written_as_text_suggests_a_draw(tmp_path):
    """`iti: 10-14` where seconds are expected: the message suggests `{uniform: [10, 14]}`."""
    top = section(tmp_path, "iti: 10-14\n")
    with pytest.raises(ProtocolError) as caught:
        top.number("iti", ge=0, le=300, what="seconds", range_hint="{{uniform: [{low}, {high}]}}")
    assert str(caught.value).endswith(
        ":1: iti: expected seconds >= 0 and <= 300, got '10-14'. Did you mean '{uniform: [10, 14]}'?"
    )


def test_range_text_without_a_hint_is_the_plain_message(tmp_path):
    """A key that takes no draw (no range_hint) keeps the plain message."""
    top = section(tmp_path, "cs_duration: 4 - 6\n")
    with pytest.raises(ProtocolError, match=r"got '4 - 6'$"):
        top.number("cs_duration", gt=0, le=60, what="seconds")


def test_percentage_for_a_rate_suggests_the_proportion(tmp_path):
    """`reinforcement_rate: 50`: rates are 0–1, did you mean 0.5; the bounds are not said twice."""
    top = section(tmp_path, "rate: 50\nother: 37.5\n")
    with pytest.raises(ProtocolError) as caught:
        top.number("rate", ge=0, le=1, what="a rate from 0 to 1")
    assert str(caught.value).endswith(
        ":1: rate: expected a rate from 0 to 1, got 50 (rates are 0–1, not percentages). "
        "Did you mean '0.5'?"
    )
    with pytest.raises(ProtocolError) as caught:
        top.number("other", ge=0, le=1, what="a volume")
    assert str(caught.value).endswith(
        "other: expected a volume >= 0 and <= 1, got 37.5 (proportions are 0–1, not "
        "percentages). Did you mean '0.375'?"
    )


def test_every_unknown_key_is_recorded_once_with_a_collector(tmp_path):
    """With a collector, every unknown key of a mapping is recorded and left out; without,
    the first one raises as before."""
    text = "alpha: 1\nbetta: 2\ngamma: 3\ndelta: 4\n"
    with pytest.raises(ProtocolError, match=r"unknown key 'betta'\. Did you mean 'beta'\?$"):
        section(tmp_path, text, ("alpha", "beta", "gamma"))
    collector = Collector()
    top = section(tmp_path, text, ("alpha", "beta", "gamma"), collector)
    assert list(top.items) == ["alpha", "gamma"]
    assert [e.key for e in collector.errors] == ["betta", "delta"]


def test_a_misspelt_required_key_is_not_also_missing(tmp_path):
    """`betta` for the required `beta`: reading `beta` raises the misspelling again (one
    line once collected), not "beta: required, got nothing"."""
    collector = Collector()
    top = section(tmp_path, "alpha: 1\nbetta: 2\n", ("alpha", "beta"), collector)
    collector.attempt(lambda: top.integer("beta"))
    assert error_lines(collector.combined()) == [
        f"{top.path}:2: betta: expected one of the keys alpha, beta, got unknown key 'betta'. "
        "Did you mean 'beta'?"
    ]


def test_collector_keeps_independent_units_and_skips_dependants(tmp_path):
    """A mistake ends its unit only; a unit needing a failed one is skipped silently; the
    errors come out in file order, the first one as the error's own fields."""
    top = section(tmp_path, "a: x\nb: 2\nc: y\n")
    collector = Collector()
    assert collector.attempt(lambda: top.integer("c"), name="c") is None
    assert collector.attempt(lambda: top.integer("b"), name="b") == 2
    assert collector.attempt(lambda: top.integer("a"), name="a") is None
    assert collector.attempt(lambda: 1 / 0, needs=("a",)) is None  # skipped: not run
    assert not collector.ready("a", "b") and collector.ready("b")
    with pytest.raises(ProtocolErrors) as caught:
        collector.finish()
    error = caught.value
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in error.lines] == ["1", "3"]
    assert (error.line, error.key) == (1, "a")
    assert str(error) == error.lines[0]


def test_collector_stops_at_the_limit(tmp_path):
    """At MAX_ERRORS mistakes reading stops with all of them, no more."""
    text = "".join(f"k{i}: x\n" for i in range(MAX_ERRORS + 5))
    top = section(tmp_path, text)
    collector = Collector()
    with pytest.raises(ProtocolErrors) as caught:
        for i in range(MAX_ERRORS + 5):
            collector.attempt(lambda i=i: top.integer(f"k{i}"))
    assert len(caught.value.lines) == MAX_ERRORS


def test_one_mistake_is_the_plain_error():
    """A single mistake comes out as that ProtocolError itself, not a list of one."""
    collector = Collector()
    error = ProtocolError("p.yaml", 3, "k", "a number", "'x'")
    collector.attempt(lambda: (_ for _ in ()).throw(error))
    assert collector.combined() is error
    assert error_lines(error) == ["p.yaml:3: k: expected a number, got 'x'"]


def test_a_blank_unknown_key_is_quoted(tmp_path):
    """An unknown key of spaces is quoted in its key path, so the line keeps its shape."""
    with pytest.raises(ProtocolError) as caught:
        section(tmp_path, "' ': 1\n", ("alpha",))
    assert str(caught.value).endswith(
        ":1: ' ': expected one of the keys alpha, got unknown key ' '"
    )
