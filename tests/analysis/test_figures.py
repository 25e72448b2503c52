"""Tests of pavlov.analysis.figures: curves figure and atomic PNG/SVG saving."""

from __future__ import annotations

import pytest

from pavlov.analysis.curves import group_curves, participant_curves
from pavlov.analysis.figures import plot_curves, save_figure
from pavlov.analysis.load import load_trials


def test_curves_figure_has_group_panels_and_phase_dividers(bids_data, tmp_path):
    """One column per group, curves and differential rows, dashed dividers between phases."""
    trials = load_trials(bids_data)
    per = participant_curves(trials, "rating", block_size=2)
    fig = plot_curves(group_curves(per), "rating", per)
    axes = fig.get_axes()
    assert len(axes) == 4  # 2 groups x (curves, differential)
    assert axes[0].get_title() == "drug (n = 1)"
    dividers = [line for line in axes[0].get_lines() if line.get_linestyle() == "--"]
    assert len(dividers) == 2  # three phases
    labels = [text.get_text() for text in axes[0].texts]
    assert labels == ["acquisition", "extinction", "recall"]
    out = tmp_path / "out"
    out.mkdir()
    written = save_figure(fig, out / "curves")
    assert [p.name for p in written] == ["curves.png", "curves.svg", "curves.pdf"]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (out / "curves.svg").read_text()
    assert (out / "curves.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in out.iterdir()) == ["curves.pdf", "curves.png", "curves.svg"]


def test_svg_is_reproducible(bids_data, tmp_path):
    """The same data give byte-identical SVGs (no embedded date)."""
    trials = load_trials(bids_data)
    group = group_curves(participant_curves(trials, "rating"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    save_figure(plot_curves(group, "rating"), tmp_path / "a" / "f")
    save_figure(plot_curves(group, "rating"), tmp_path / "b" / "f")
    assert (tmp_path / "a" / "f.svg").read_bytes() == (tmp_path / "b" / "f.svg").read_bytes()


@pytest.fixture(scope="module")
def two_days(simulate, tmp_path_factory):
    """Two simulated participants through both days of fear_extinction_recall (day 2 has
    recall, renewal, 3 unsignalled reinstatement USs and a reinstatement test)."""
    root = tmp_path_factory.mktemp("two_days") / "data"
    for participant in ("01", "02"):
        for session in ("day1", "day2"):
            simulate.run(root, "fear_extinction_recall", participant, session, speed=20.0)
    return root


def test_phase_names_do_not_overlap_and_days_and_uss_are_marked(two_days):
    """Short phases with long names: no two phase names overlap; the day-2 boundary is a
    solid line named "day2"; the reinstatement USs are marked before the test."""
    from pavlov.analysis.figures import phase_marks
    from pavlov.analysis.load import load_sessions
    from pavlov.analysis.provenance import recorded_protocols

    root = two_days
    trials = load_trials(root)
    per = participant_curves(trials, "rating", block_size=2)
    protocols = [r.protocol for r in recorded_protocols(load_sessions(root))]
    marks = phase_marks(trials, protocols)
    assert ("session", "recall", "day2") in marks
    assert ("us", "reinstatement_test", "3 US") in marks
    fig = plot_curves(group_curves(per), "rating", per, marks=marks)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        names = [t for t in ax.texts if t.get_text() in set(trials["phase"])]
        boxes = [t.get_window_extent(renderer) for t in names]
        assert len(boxes) == 6
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (a, b)
    top = fig.axes[0]
    texts = [t.get_text() for t in top.texts]
    assert " day1" in texts and " day2" in texts
    assert "3 US (reinstatement)" in texts
    assert any(line.get_linestyle() == "-" and line.get_linewidth() > 1 for line in top.lines)


def test_dpi_and_vector_formats(bids_data, tmp_path):
    """--dpi doubles the PNG's pixels when doubled (as 300 does over the default 150); SVG
    and PDF are vector."""
    from PIL import Image

    trials = load_trials(bids_data)
    group = group_curves(participant_curves(trials, "rating"))
    fig = plot_curves(group, "rating")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    save_figure(fig, tmp_path / "a" / "f", dpi=60, formats=("png",))
    save_figure(fig, tmp_path / "b" / "f", dpi=120)
    small = Image.open(tmp_path / "a" / "f.png").size
    large = Image.open(tmp_path / "b" / "f.png").size
    assert abs(large[0] - 2 * small[0]) <= 2 and abs(large[1] - 2 * small[1]) <= 2
    assert Image.open(tmp_path / "b" / "f.png").info["dpi"][0] == pytest.approx(120, abs=1)
    assert "<path" in (tmp_path / "b" / "f.svg").read_text()
    assert b"<image" not in (tmp_path / "b" / "f.svg").read_bytes()


def test_outputs_respect_the_umask(bids_data, tmp_path):
    """Figures and reports are 0644 under umask 022 (mkstemp's 0600 hid them)."""
    import os

    from pavlov.analysis.report import write_text

    trials = load_trials(bids_data)
    fig = plot_curves(group_curves(participant_curves(trials, "rating")), "rating")
    old = os.umask(0o022)
    try:
        written = [*save_figure(fig, tmp_path / "f"), write_text(tmp_path / "r.html", "x")]
        os.umask(0o027)
        group_only = write_text(tmp_path / "g.html", "x")
    finally:
        os.umask(old)
    assert {p.stat().st_mode & 0o777 for p in written} == {0o644}
    assert group_only.stat().st_mode & 0o777 == 0o640


def test_reminder_phases_are_marked(bids_data):
    """A reminder (reactivation) phase is marked with a star and named "reminder"."""
    from pavlov.analysis.figures import phase_marks

    trials = load_trials(bids_data)
    trials.loc[trials["phase"] == "recall", "phase_type"] = "reactivation"
    marks = phase_marks(trials)
    assert ("reminder", "recall", "reminder") in marks
    fig = plot_curves(group_curves(participant_curves(trials, "rating")), "rating", marks=marks)
    top = fig.axes[0]
    assert "reminder" in [t.get_text() for t in top.texts]
    assert any(line.get_marker() == "*" for line in top.lines)


def test_the_three_files_share_one_layout_and_the_figure_keeps_its_engine(bids_data, tmp_path):
    """save_figure writes PNG, SVG and PDF with the PNG's layout (the axes stand where a
    PNG alone puts them) and leaves the figure with the layout engine it had."""
    trials = load_trials(bids_data)
    fig = plot_curves(group_curves(participant_curves(trials, "rating")), "rating")
    engine = fig.get_layout_engine()
    written = save_figure(fig, tmp_path / "f")
    assert [p.suffix for p in written] == [".png", ".svg", ".pdf"]
    assert all(p.stat().st_size > 0 for p in written)
    assert fig.get_layout_engine() is engine
    after_three = [ax.get_position().bounds for ax in fig.axes]
    save_figure(fig, tmp_path / "g", formats=("png",))
    again = [ax.get_position().bounds for ax in fig.axes]
    assert again == [pytest.approx(bounds, abs=1e-12) for bounds in after_three]
