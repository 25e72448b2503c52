"""Fuzzed trial tables (issue 6, item 3): ``pavlov.analysis.table.read_table`` either imports
a table or raises ``TableError`` whose message is one line in its own format,
``path[:line][: row R][, column 'c']: expected X, got Y`` — never another exception.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pavlov.analysis.errors import TableError
from pavlov.analysis.table import read_table

MESSAGE = re.compile(r"^.+?(:\d+)?(: row \d+)?(, column '.*'|: column '.*')?: expected .+, got .+$")
VALID = """\
participant,phase,trial,cs_type,us,response
1,acquisition,1,CS+,1,5
1,acquisition,2,CS-,0,2
1,extinction,1,CS+,0,n/a
2,acquisition,1,CS-,0,3
"""
COLUMNS = ["participant", "phase", "trial", "cs_type", "us", "response", "session", "block"]
COLUMNS += ["cs", "stimulus", "onset", "rating", "scr", "respons", "group", "phase_type"]
cells = st.one_of(
    st.sampled_from(["1", "0", "2", "-1", "1.5", "CS+", "CS-", "CS+R", "n/a", "NA", "", "inf"]),
    st.sampled_from(["nan", "1e400", "acquisition", "extinction", " 3 ", "x", '"', "a,b"]),
    st.text(max_size=6),
)


def check_table(data: bytes, suffix: str = ".csv") -> str:
    """Import ``data`` as a trial table; return 'ok' or 'rejected' (anything else fails)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"trials{suffix}"
        path.write_bytes(data)
        try:
            frame = read_table(path)
        except TableError as error:
            message = str(error)
            assert "\n" not in message and MESSAGE.match(message), message
            assert message.startswith(str(path))
            return "rejected"
        assert len(frame) > 0
        return "ok"


def to_csv(header, rows, sep=",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@given(
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=9, unique=True),
    st.data(),
    st.sampled_from([",", "\t"]),
)
def test_random_tables_import_or_fail_in_one_line(header, data, sep):
    """Random headers and cells: imported, or one TableError line naming row and column."""
    n = data.draw(st.integers(0, 6))
    rows = [[data.draw(cells) for _ in header] for _ in range(n)]
    check_table(to_csv(header, rows, sep))


@given(st.data())
def test_mutated_valid_table_imports_or_fails_in_one_line(data):
    """The valid table with cells replaced, lines dropped, fields added or cut."""
    lines = VALID.split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["cell", "delete", "duplicate", "field", "cut", "junk"]))
        fields = lines[i].split(",")
        if kind == "cell":
            fields[data.draw(st.integers(0, len(fields) - 1))] = data.draw(cells)
            lines[i] = ",".join(fields)
        elif kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "field":
            lines[i] += ",extra"
        elif kind == "cut":
            lines[i] = ",".join(fields[:-1])
        elif kind == "junk":
            lines[i] += data.draw(st.text(max_size=5))
        if not lines:
            lines = [""]
    check_table("\n".join(lines).encode("utf-8"))


@given(st.binary(max_size=300), st.sampled_from([".csv", ".tsv", ".csv.gz"]))
def test_random_bytes_tables_are_rejected_in_one_line(blob, suffix):
    """Arbitrary bytes (also as a .gz) never raise anything but a one-line TableError."""
    check_table(blob, suffix)


def test_huge_field_and_late_nul_are_one_line_errors():
    """A field over the csv module's size limit and a NUL byte after 64 KiB: one line."""
    header = b"participant,phase,trial,cs_type,us,response\n"
    assert check_table(header + b"1,acq,1,CS+,1," + b"9" * 200_000 + b"\n") == "rejected"
    rows = b"1,acq,%d,CS+,1,5\n"
    body = b"".join(rows % i for i in range(1, 5000))
    assert check_table(header + body + b"1,acq,9999,CS+,1,\x005\n") == "rejected"


def test_valid_table_imports():
    """The unmutated table imports (the fuzzers start from a valid file)."""
    assert check_table(VALID.encode()) == "ok"


def test_a_lone_quote_is_a_one_line_error(tmp_path):
    """A table holding only `"` (text, but no header field) was an AssertionError."""
    import pytest

    from pavlov.analysis.errors import TableError
    from pavlov.analysis.table import read_delimited

    path = tmp_path / "quote.csv"
    path.write_bytes(b'"')
    with pytest.raises(TableError, match="expected a header line and rows, got no header line"):
        read_delimited(path)
