"""Tests of pavlov.analysis.figures: curves figure and atomic PNG/SVG saving."""

from __future__ import annotations

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
    assert [p.name for p in written] == ["curves.png", "curves.svg"]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (out / "curves.svg").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "curves.svg"]


def test_svg_is_reproducible(bids_data, tmp_path):
    """The same data give byte-identical SVGs (no embedded date)."""
    trials = load_trials(bids_data)
    group = group_curves(participant_curves(trials, "rating"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    save_figure(plot_curves(group, "rating"), tmp_path / "a" / "f")
    save_figure(plot_curves(group, "rating"), tmp_path / "b" / "f")
    assert (tmp_path / "a" / "f.svg").read_bytes() == (tmp_path / "b" / "f.svg").read_bytes()
