"""Fixed order files: read exactly, and every mistake named by file, line and column."""

from __future__ import annotations

import pytest

from pavlov.protocols.errors import ProtocolError
from pavlov.protocols.orders import read_order

ROLES = ("CS+", "CS-")


def write(tmp_path, text, name="order.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_order_reads_rows_counts_and_itis(tmp_path):
    """Rows keep their order; counts and reinforced counts are derived."""
    order = read_order(write(tmp_path, "cs,reinforced,iti\nCS+,1,8\nCS-,0,9.5\nCS+,0,10\n"), ROLES)
    assert [r.cs for r in order.rows] == ["CS+", "CS-", "CS+"]
    assert order.trial_counts() == {"CS+": 2, "CS-": 1}
    assert order.reinforced_counts() == {"CS+": 1}
    assert order.has_iti and order.rows[1].iti == 9.5


def test_tab_separated_orders_are_read(tmp_path):
    """.tsv files are tab-separated."""
    order = read_order(write(tmp_path, "cs\treinforced\nCS-\t0\n", "o.tsv"), ROLES)
    assert order.rows[0].cs == "CS-" and not order.has_iti


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "cs,reinforced\nCS3,0\n",
            r":2: cs: expected one of the CS roles \(CS\+, CS-\), got 'CS3'\. Did you mean 'CS-'\?$",
        ),
        (
            "cs,reinforced\nCS-,1\n",
            r":2: reinforced: expected 0 for the CS- \(only CS\+ roles are reinforced\), got 1$",
        ),
        ("cs,reinforced\nCS+,yes\n", r":2: reinforced: expected 1 or 0, got 'yes'$"),
        ("cs,reinforced,iti\nCS+,0,-1\n", r":2: iti: expected seconds from 0 to 300, got '-1'$"),
        (
            "cs,reinforced,iti\nCS+,0,soon\n",
            r":2: iti: expected seconds from 0 to 300, got 'soon'$",
        ),
        (
            "cs,reinforced,itt\nCS+,0,1\n",
            r":1: itt: expected columns cs, reinforced\[, iti\], got unknown column 'itt'\. Did you mean 'iti'\?$",
        ),
        ("cs\nCS+\n", r":1: reinforced: expected a 'reinforced' column, got no such column$"),
        ("cs,reinforced\n", r":1: expected one row per trial, got only a header$"),
        ("", r":1: expected a header row and one row per trial, got an empty file$"),
        ("cs,reinforced\nCS+,0,5\n", r":2: expected 2 columns, got 3$"),
    ],
)
def test_bad_order_file_is_one_line(tmp_path, text, message):
    """Each mistake in an order file names the file, its line and the column."""
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError, match=r"^" + str(path).replace(".", r"\.") + message):
        read_order(path, ROLES)
