"""Figures: each returns a Figure with the expected axes and artists, and saves as PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from models.metrics import reliability_table
from publish.figures import (
    feature_importance,
    pit_histogram,
    predicted_vs_observed,
    reliability_diagram,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _saved(fig: Figure, path) -> bool:
    fig.savefig(path)
    return path.read_bytes()[:8] == PNG_MAGIC


def test_reliability_diagram_one_panel_per_slot(tmp_path):
    p = np.array([0.05, 0.15, 0.12, 0.95])
    e = np.array([0.0, 1.0, 0.0, 1.0])
    panels = {"P(any event) in 1 week(s)": {"a": reliability_table(p, e, 10), "b": reliability_table(p / 2, e, 10)},
              "P(major attack) in 4 weeks": {"b": reliability_table(p, e, 10), "c": reliability_table(p, e, 10)}}
    fig = reliability_diagram(panels)
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # a diagram and a count panel per slot
    first, second = fig.axes[0], fig.axes[1]
    assert [first.get_title(), second.get_title()] == list(panels)
    assert len(first.lines) == 1 + 2  # diagonal + one line per model
    np.testing.assert_allclose(first.lines[1].get_xdata(), [0.05, 0.135, 0.95])  # non-empty bins only
    colour = {line.get_label(): line.get_color() for ax in (first, second) for line in ax.lines[1:]}
    assert second.lines[1].get_color() == first.lines[2].get_color() == colour["b"]  # a model keeps its colour
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c"]
    assert len(fig.axes[2].lines) == 2  # rows per bin, one line per model
    assert _saved(fig, tmp_path / "reliability.png")


def test_pit_small_multiples_one_panel_per_horizon():
    rng = np.random.default_rng(1)
    pit = {f"m{i} h{h}": rng.uniform(size=100) for i in range(8) for h in (1, 4, 13)}
    panels = {f"{h}-week counts": [f"m{i} h{h}" for i in range(8)] for h in (1, 4, 13)}
    fig = pit_histogram(pit, bins=5, panels=panels)
    assert [ax.get_title() for ax in fig.axes] == list(panels)
    assert [len(ax.patches) for ax in fig.axes] == [8, 8, 8]  # one step outline per model
    assert fig.get_size_inches()[0] < 12  # 3 panels, not a strip of 24


def test_pit_histogram(tmp_path):
    rng = np.random.default_rng(0)
    fig = pit_histogram({"m1": rng.uniform(size=200), "m2": rng.beta(0.5, 0.5, 200)}, bins=5)
    assert len(fig.axes) == 2
    assert [len(ax.patches) for ax in fig.axes] == [5, 5]
    heights = np.array([p.get_height() for p in fig.axes[0].patches])
    assert np.sum(heights * 0.2) == pytest.approx(1.0)  # a density over bins of width 0.2
    assert fig.axes[0].lines[0].get_ydata()[0] == 1.0
    assert _saved(fig, tmp_path / "pit.png")


def test_predicted_vs_observed_sums_districts_per_origin(tmp_path):
    origins = pd.to_datetime(["2020-01-06", "2020-01-06", "2020-01-13", "2020-01-13"])
    base = pd.DataFrame({"origin": origins, "district_code": ["A", "B"] * 2, "horizon": 1, "kind": "count",
                         "y": [1.0, 2.0, 0.0, 4.0]})
    preds = pd.concat([base.assign(model="m1", mean=[0.5, 0.5, 1.0, 1.0]),
                       base.assign(model="m2", mean=[2.0, 2.0, 2.0, 2.0]),
                       base.assign(model="m1", horizon=4, mean=1.0),
                       base.assign(model="haz", kind="hazard", mean=np.nan)], ignore_index=True)
    fig = predicted_vs_observed(preds)
    assert len(fig.axes) == 2  # horizons 1 and 4
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["observed", "m1", "m2"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.0, 4.0])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.0, 2.0])
    assert len(predicted_vs_observed(preds, models=["m2"]).axes[0].lines) == 2
    assert _saved(fig, tmp_path / "national.png")


def test_feature_importance_keeps_the_largest_absolute_values(tmp_path):
    imp = pd.Series({"a": 0.1, "b": -3.0, "c": 2.0, "d": 0.5}, name="gain")
    fig = feature_importance(imp, top=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["d", "c", "b"]  # largest at the top
    assert [p.get_width() for p in ax.patches] == [0.5, 2.0, -3.0]
    assert ax.get_xlabel() == "gain"
    assert _saved(fig, tmp_path / "importance.png")


def test_reliability_panels_draw_the_candidates_and_only_the_best_baseline():
    from publish.figures import _drawn_models

    metrics = pd.DataFrame([
        ("tsb", "count", 1, "crps", 0.30), ("imapa", "count", 1, "crps", 0.20), ("hawkes_nb", "count", 1, "crps", 0.25),
        ("zero", "count", 1, "crps", 0.10), ("tsb", "count", 4, "crps", 0.5), ("imapa", "count", 4, "crps", 0.6),
        ("district_history", "hazard", 4, "brier", 0.08), ("base_rate", "hazard", 4, "brier", 0.09),
        ("hawkes_hazard", "hazard", 4, "brier", 0.07), ("hawkes_nb", "count", 1, "brier", 0.01),
    ], columns=["model", "kind", "horizon", "metric", "value"])
    drawn = _drawn_models(metrics, ["zero", "tsb", "imapa", "district_history", "base_rate"])
    assert drawn == {("hawkes_nb", 1), ("imapa", 1), ("tsb", 4), ("district_history", 4), ("hawkes_hazard", 4)}
