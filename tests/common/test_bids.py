"""Tests of pavlov.common.bids: one check of BIDS labels for every room, and pavlov's version."""

from __future__ import annotations

from importlib import metadata

import pytest

from pavlov.common.bids import LABEL, MAX_LABEL, LabelError, bids_label, is_label, pavlov_version


def test_is_label_takes_letters_and_digits_only():
    """Letters and digits pass; empty text, separators, a trailing newline and non-text fail."""
    assert is_label("07") and is_label("day1") and is_label("A" * 200)
    for bad in ("", "07_a", "sub-07", "07 ", "07\n", "ü1", None, 7):
        assert not is_label(bad), bad
    assert LABEL == "[A-Za-z0-9]+"


def test_bids_label_drops_the_prefix_and_names_the_option():
    """`sub-07` is the label 07; anything else is one LabelError line naming the option."""
    assert bids_label("sub-07", "--participant") == "07"
    assert bids_label(" ses-2 ", "session") == "2"
    with pytest.raises(LabelError, match=r"^--participant: expected letters and digits only"):
        bids_label("07_a", "--participant")
    assert LabelError.exit_status == 2


def test_overlong_labels_are_one_line():
    """A participant ID of 300 characters (Errno 36) or 5,000 digits (int limit) is one line."""
    for text in ("a" * 300, "1" * 5000):
        with pytest.raises(
            LabelError, match=r"at most 64 letters and digits, got [\d,]+ characters"
        ):
            bids_label(text, "--participant")
    assert bids_label("a" * MAX_LABEL, "--participant") == "a" * MAX_LABEL


def test_version_is_the_installed_one():
    """The version stamped on sidecars and reports is the installed distribution's."""
    assert pavlov_version() == metadata.version("pavlov")
