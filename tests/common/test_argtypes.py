"""Command-line number types: valid words become numbers, others a one-line usage error."""

from __future__ import annotations

import argparse

import pytest

from pavlov.common.argtypes import finite_float, nonnegative_float, positive_float, positive_int


@pytest.mark.parametrize(
    ("convert", "text", "value"),
    [
        (positive_int, "3", 3),
        (positive_float, "2.5", 2.5),
        (nonnegative_float, "0", 0.0),
        (finite_float, "-1e3", -1000.0),
    ],
)
def test_valid_words_convert(convert, text, value):
    """Numbers in range are returned as numbers."""
    assert convert(text) == value


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (positive_int, "0", "expected a whole number >= 1 and <= 1,000,000,000, got '0'"),
        (positive_int, "two", "expected a whole number >= 1 and <= 1,000,000,000, got 'two'"),
        (positive_float, "0", "expected a number > 0, got '0'"),
        (positive_float, "inf", "expected a number > 0, got 'inf'"),
        (positive_float, "nan", "expected a number > 0, got 'nan'"),
        (nonnegative_float, "-0.1", "expected a number >= 0, got '-0.1'"),
        (finite_float, "inf", "expected a finite number, got 'inf'"),
        (finite_float, "x", "expected a number, got 'x'"),
    ],
)
def test_invalid_words_say_what_was_expected(convert, text, message):
    """Out-of-range or non-numeric words give argparse's error with the expectation."""
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        convert(text)


def test_hostile_numbers_and_names_are_one_line_usage_errors():
    """Numbers that overflowed (block size 1e23 as digits), a negative seed, a speed of
    1e-9, an empty --data: argparse usage errors, not internal errors (issue 15)."""
    import argparse

    import pytest

    from pavlov.common.argtypes import folder_name, positive_int, seed, speed

    for text in ("100000000000000000000000", "1" * 5000, "0", "1e23"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number >= 1"):
            positive_int(text)
    assert positive_int("1000000000") == 10**9
    for text in ("-1", str(2**32), "x"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"< 2\*\*32"):
            seed(text)
    assert seed("0") == 0 and seed(str(2**32 - 1)) == 2**32 - 1
    for text in ("1e-9", "0", "1e9", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match=r">= 0\.1 and <= 100000"):
            speed(text)
    with pytest.raises(argparse.ArgumentTypeError, match="expected a folder"):
        folder_name("")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["run", "--speed", "abc", "p.yaml"],
            "pavlov run: error: argument --speed: expected a number >= 0.1 and <= 100000, "
            "got 'abc'",
        ),
        (["run", "p.yaml", "--bogus"], "pavlov run: error: unrecognized arguments: --bogus"),
        (
            ["simulate", "p.yaml"],
            "pavlov simulate: error: the following arguments are required: --participants",
        ),
        (
            ["schedule", "p.yaml", "--participant"],
            "pavlov schedule: error: argument --participant/-p: expected one argument",
        ),
        (
            ["devices", "check", "--listen", "x"],
            "pavlov devices check: error: argument --listen: expected a number >= 0, got 'x'",
        ),
    ],
)
def test_option_errors_are_one_line_naming_the_subcommand(argv, line):
    """A bad, unknown or missing option of any subcommand is one stderr line naming that
    subcommand (no usage block), exit 2, from the real `pavlov` process."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", *argv], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, line + "\n", "")


def test_help_still_prints_the_usage():
    """`pavlov run --help` prints its usage and options on stdout, exit 0."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pavlov.task.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: pavlov run") and "--speed SPEED" in proc.stdout
