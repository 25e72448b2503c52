"""Tests of pavlov.common.keys: the one check every user-given key goes through."""

from __future__ import annotations

from pavlov.common.keys import RESERVED_KEYS, SYNC_RESERVED_KEYS, reserved_keys


def test_reserved_keys_are_found_whatever_their_case():
    """Escape, space and F12 are the run loop's, in any case or with spaces; others are free."""
    assert reserved_keys(["1", "Escape", "a", " space", "F12"]) == ["Escape", " space", "F12"]
    assert reserved_keys(["1", "2", "y", "n"]) == []


def test_a_pulse_key_may_not_answer_the_quit_prompt():
    """A scanner pulse key may not be y or n either (its presses never reach the prompt)."""
    assert reserved_keys(["y", "5"], pulse=True) == ["y"]
    assert set(RESERVED_KEYS) < set(SYNC_RESERVED_KEYS)
