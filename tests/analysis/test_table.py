"""Tests of pavlov.analysis.table: importing other tools' trial tables."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from pavlov.analysis.errors import TableError
from pavlov.analysis.load import load_trials
from pavlov.analysis.table import read_table

GOOD = (
    "participant,phase,trial,cs_type,us,response,group,block\n"
    "s2,acq,1,CS+,1,5,A,1\n"
    "s2,acq,2,CS-,0,NA,A,1\n"
    "s10,acq,1,CS-,0,1,B,1\n"
    "s10,acq,2,CS+,0,6,B,1\n"
    "s2,ext,1,CS+,0,3,A,1\n"
    "s2,ext,2,CS-,0,n/a,A,1\n"
)


def write(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_table_maps_response_and_us(tmp_path):
    """`response` becomes `rating`, `us` becomes bool `reinforced`, missing values NaN."""
    trials = read_table(write(tmp_path, GOOD))
    s2 = trials[trials["participant"] == "s2"]
    assert s2["rating"].tolist()[0] == 5.0
    assert np.isnan(s2["rating"].tolist()[1])
    assert s2["reinforced"].tolist() == [True, False, False, False]
    assert set(trials["group"]) == {"A", "B"}
    assert trials["block"].tolist() == [1.0] * 6


def test_table_order_and_phase_order(tmp_path):
    """Participants sort naturally, phases keep first-appearance order, cs_trial counts."""
    trials = read_table(write(tmp_path, GOOD))
    assert list(dict.fromkeys(trials["participant"])) == ["s2", "s10"]
    assert trials[["phase", "phase_order"]].drop_duplicates().values.tolist() == [
        ["acq", 1],
        ["ext", 2],
    ]
    s10 = trials[trials["participant"] == "s10"]
    assert s10["cs_type"].tolist() == ["CS-", "CS+"]
    assert trials["phase_type"].tolist()[0] == "acquisition"


def test_response_name_option(tmp_path):
    """response_name puts the response in another column (e.g. scr)."""
    trials = read_table(write(tmp_path, GOOD), response_name="scr")
    assert trials["scr"].notna().sum() == 4
    assert trials["rating"].isna().all()


def test_tsv_and_gzip_tables(tmp_path):
    """Tab-separated and gzip-compressed tables load the same as CSV."""
    tsv = write(tmp_path, GOOD.replace(",", "\t"), "table.tsv")
    gz = tmp_path / "table.csv.gz"
    gz.write_bytes(gzip.compress(GOOD.encode()))
    a, b = read_table(tsv), read_table(gz)
    assert a.equals(b)
    assert len(load_trials(gz)) == 6


def test_missing_column(tmp_path):
    """A missing required column is named, with the columns found."""
    text = GOOD.replace("response", "resp")
    path = write(tmp_path, text)
    with pytest.raises(
        TableError,
        match=rf"^{path}:1: column 'response': expected a column with that name, got columns "
        r"participant, phase, trial, cs_type, us, resp, group, block \(is 'resp' meant",
    ):
        read_table(path)


def test_bad_cs_type(tmp_path):
    """A cs_type other than CS+/CS-/GS names file, line, row and column, with a suggestion."""
    path = write(tmp_path, GOOD.replace("s10,acq,1,CS-", "s10,acq,1,CS +"))
    with pytest.raises(
        TableError,
        match=rf"^{path}:4: row 3, column 'cs_type': expected 'CS\+' or 'CS-' or 'GS', got 'CS \+' "
        r"\(did you mean 'CS\+'\?\)$",
    ):
        read_table(path)


def test_non_numeric_response(tmp_path):
    """A response that is not a number names file, row and column."""
    path = write(tmp_path, GOOD.replace("s10,acq,2,CS+,0,6", "s10,acq,2,CS+,0,six"))
    with pytest.raises(
        TableError, match=rf"^{path}:5: row 4, column 'response': expected a number, got 'six'$"
    ):
        read_table(path)


def test_bad_us_and_trial(tmp_path):
    """`us` must be 0/1 and `trial` a positive whole number."""
    path = write(tmp_path, GOOD.replace("s2,acq,1,CS+,1", "s2,acq,1,CS+,yes"))
    with pytest.raises(TableError, match=r":2: row 1, column 'us': expected '0' or '1', got 'yes'"):
        read_table(path)
    path = write(tmp_path, GOOD.replace("s2,acq,2,", "s2,acq,2.5,"))
    with pytest.raises(
        TableError, match=r":3: row 2, column 'trial': expected a positive whole number, got '2.5'"
    ):
        read_table(path)


def test_duplicate_trial(tmp_path):
    """Two rows for the same participant, phase and trial are reported at the second."""
    path = write(tmp_path, GOOD + "s2,ext,2,CS-,0,1,A,1\n")
    with pytest.raises(TableError, match=r":8: row 7, column 'trial': expected one row per"):
        read_table(path)


def test_empty_file(tmp_path):
    """An empty file is one line naming it."""
    path = write(tmp_path, "")
    with pytest.raises(
        TableError, match=rf"^{path}: expected a header line and rows, got an empty file$"
    ):
        read_table(path)


def test_binary_file(tmp_path):
    """A binary file (e.g. an xlsx given by mistake) is refused in one line."""
    path = tmp_path / "table.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(TableError, match=r"expected a UTF-8 text table, got binary data"):
        read_table(path)


def test_directory(tmp_path):
    """A directory given as a table is refused in one line."""
    with pytest.raises(
        TableError, match=rf"^{tmp_path}: expected a CSV or TSV file, got a directory$"
    ):
        read_table(tmp_path)


def test_wrong_field_count(tmp_path):
    """A row with more fields than the header names the row."""
    path = write(tmp_path, GOOD + "s3,acq,1,CS+,1,5,A,1,extra\n")
    with pytest.raises(TableError, match=r":8: row 7: expected 8 fields like the header, got 9"):
        read_table(path)


def test_cs_role_must_match_type(tmp_path):
    """A `cs` role must start with its cs_type."""
    text = "participant,phase,trial,cs_type,us,response,cs\n1,acq,1,CS-,0,1,CS+R\n"
    path = write(tmp_path, text)
    with pytest.raises(TableError, match=r"column 'cs': expected a role starting with its cs_type"):
        read_table(path)


def test_error_is_a_value_error(tmp_path):
    """TableError is also a ValueError, with exit status 2."""
    path = write(tmp_path, "")
    with pytest.raises(ValueError) as info:
        read_table(path)
    assert info.value.exit_status == 2


THEIRS = (
    "subject,stage,n,stim,shock,scr_uS\n"
    "p1,acq,1,CS+1,1,0.5\n"
    "p1,acq,2,CS+2,0,0.4\n"
    "p1,acq,3,CS-,0,0.1\n"
)


def test_column_map_reads_their_names(tmp_path):
    """A mapping THEIRS=OURS reads a table as it is; CS+1/CS+2 roles give cs and cs_type."""
    from pavlov.analysis.table import parse_column_map

    mapping = parse_column_map(
        "subject=participant,stage=phase,n=trial,stim=cs,shock=us,scr_uS=response"
    )
    trials = read_table(write(tmp_path, THEIRS), response_name="scr", columns=mapping)
    assert trials["participant"].tolist() == ["p1"] * 3
    assert trials["cs"].tolist() == ["CS+1", "CS+2", "CS-"]
    assert trials["cs_type"].tolist() == ["CS+", "CS+", "CS-"]
    assert trials["scr"].tolist() == [0.5, 0.4, 0.1]


def test_column_map_errors_are_one_line(tmp_path):
    """A malformed mapping, an unknown target and a missing source column each say what."""
    from pavlov.analysis.table import parse_column_map

    with pytest.raises(ValueError, match=r"expected THEIRS=OURS"):
        parse_column_map("subject")
    with pytest.raises(ValueError, match=r"Did you mean 'participant'\?"):
        parse_column_map("subject=participnt")
    with pytest.raises(TableError, match=r"'subjekt': expected a column to read as 'participant'"):
        read_table(write(tmp_path, THEIRS), columns={"subjekt": "participant"})


def test_cs_role_in_cs_type_points_to_the_cs_column(tmp_path):
    """A cs_type of CS+1 is a role: the error says it belongs in `cs`, not "did you mean CS+"."""
    text = "participant,phase,trial,cs_type,us,response\np1,acq,1,CS+1,1,3\n"
    with pytest.raises(TableError) as caught:
        read_table(write(tmp_path, text))
    message = str(caught.value)
    assert "'CS+1', a CS role: it belongs in the 'cs' column" in message
    assert "did you mean" not in message


def test_analyze_columns_option(tmp_path, capsys):
    """`pavlov analyze TABLE --columns ...` runs on a table with its own names; a bad
    mapping is one line with exit 2."""
    from pavlov.task.cli import main

    rows = ["subject,stage,n,stim,shock,rating_0_10"]
    for p in ("p1", "p2", "p3"):
        for phase in ("acq", "ext"):
            for t in range(1, 7):
                stim = ("CS+1", "CS+2", "CS-")[t % 3]
                rows.append(f"{p},{phase},{t},{stim},{int(phase == 'acq' and t % 3 == 1)},{t}")
    table = write(tmp_path, "\n".join(rows) + "\n")
    mapping = "subject=participant,stage=phase,n=trial,stim=cs,shock=us,rating_0_10=response"
    out = tmp_path / "out"
    status = main(["analyze", str(table), "--out", str(out), "--columns", mapping, "--no-figures"])
    assert status == 0, capsys.readouterr().err
    assert (out / "report.html").exists()
    with pytest.raises(SystemExit) as stop:
        main(["analyze", str(table), "--out", str(out), "--columns", "subject"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2
    assert last == (
        "pavlov analyze: error: argument --columns: expected THEIRS=OURS (e.g. "
        "subject=participant), got 'subject'"
    )


def test_plain_tables_are_read_as_the_strict_reader_reads_them(tmp_path):
    """A plain CSV or TSV (parsed by pandas' C reader) gives exactly the frame of the same
    table with every field quoted (which only the strict csv reader takes): stripped
    text, 1-based row index; a blank line sends the file to the strict reader."""
    import csv

    import pandas as pd

    from pavlov.analysis.table import read_delimited, read_plain

    rows = [
        ["participant", "phase", "trial", "cs", "us", "response"],
        ["01", " acquisition", "1", "CS+", "1", "7"],
        ["01", "acquisition ", "2", "CS-", "0", "n/a"],
        ["02", "extinction", "1", "CS+", "0", ""],
    ]
    for sep, name in ((",", "t.csv"), ("\t", "t.tsv")):
        plain, quoted = tmp_path / name, tmp_path / f"q{name}"
        plain.write_text("\n".join(sep.join(r) for r in rows) + "\n")
        with quoted.open("w", newline="") as stream:
            csv.writer(stream, delimiter=sep, quoting=csv.QUOTE_ALL).writerows(rows)
        assert read_plain(plain.read_bytes(), sep) is not None
        assert read_plain(quoted.read_bytes(), sep) is None
        pd.testing.assert_frame_equal(read_delimited(plain), read_delimited(quoted))
    blank = tmp_path / "b.csv"
    blank.write_text("\n".join(",".join(r) for r in [*rows[:2], [], *rows[2:]]) + "\n")
    assert read_plain(blank.read_bytes(), ",") is None
    assert list(read_delimited(blank).index) == [1, 3, 4]
