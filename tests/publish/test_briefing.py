"""Tests of the briefing's views: short drivers against the usual level, the 26-week charts, the deadliest
events and the headline skill (tiny hand-made frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import FeatureSpec
from models.backtest import BacktestResult
from publish.briefing import (
    HISTORY_WEEKS,
    deadliest_events,
    driver_items,
    headline_view,
    history_charts,
    history_frame,
    signed_percent,
)
from publish.summary import headline_table

WEEK = pd.Timestamp("2024-01-08")
SPECS = [
    FeatureSpec("violent_events_sum_w4", "recent_attacks", "violent events in the district, dated in the 4 weeks "
                "before week_start", "events", 4, measure="violent_events", scope="own", statistic="sum"),
    FeatureSpec("weeks_since_violent_events", "time_since", "weeks since the last week with violent events",
                "weeks", None, measure="violent_events", scope="own", statistic="weeks_since"),
    FeatureSpec("pol_coup_w4", "political_calendar", "1 when a national coup event is dated in the 4 weeks",
                "indicator", 4, measure="calendar_coup", scope="national", statistic="any"),
]


def table_frame() -> pd.DataFrame:
    """Two districts over the 52 weeks before WEEK and WEEK itself: A usually 2 events a month, 8 now; B
    usually 10 weeks since violence, 1 now; a coup flag on this week only."""
    weeks = pd.date_range(end=WEEK, periods=53, freq="7D")
    frame = pd.DataFrame({"district_code": np.repeat(["A", "B"], 53), "week_start": np.tile(weeks, 2)})
    now = frame["week_start"] == WEEK
    frame["violent_events_sum_w4"] = np.where(now, 8.0, 2.0)
    frame["weeks_since_violent_events"] = np.where(now, 1.0, 10.0)
    frame["pol_coup_w4"] = np.where(now, 1.0, 0.0)
    return frame


def test_drivers_read_as_short_labels_against_the_usual_level():
    rows = pd.DataFrame({
        "district_code": ["A", "B"],
        "driver_1": ["+ violent events in the district, dated in the 4 weeks before week_start",
                     "+ weeks since the last week with violent events"],
        "driver_1_feature": ["violent_events_sum_w4", "weeks_since_violent_events"],
        "driver_2": ["- 1 when a national coup event is dated in the 4 weeks", "+ an old feature"],
        "driver_2_feature": ["pol_coup_w4", "dropped_feature"],
        "driver_3": [None, None], "driver_3_feature": [None, None],
    })
    a, b = driver_items(rows, table_frame(), WEEK, SPECS)
    assert a[0] == {"text": "violence, last 4 weeks: very high (8 vs usual 2)", "direction": "up",
                    "description": "violent events in the district, dated in the 4 weeks before week_start"}
    assert a[1]["text"] == "coup in the last 4 weeks: yes" and a[1]["direction"] == "down"
    # a short time since violence reads as recent violence, not as "more weeks since"
    assert b[0]["text"] == "time since last violence: very short (1 wk vs usual 10)"
    assert b[1] == {"text": "an old feature", "direction": "up", "description": "an old feature"}  # not in the catalog
    assert len(a) == 2 and len(b) == 2


def test_history_frame_prefers_published_forecasts_and_adds_this_week():
    weeks = pd.date_range(end=WEEK - pd.Timedelta(weeks=1), periods=HISTORY_WEEKS, freq="7D")
    observed = pd.DataFrame({"district_code": "A", "week_start": weeks, "events": np.arange(HISTORY_WEEKS, dtype=float)})
    published = pd.DataFrame({"district_code": ["A"], "week_start": [weeks[-1]], "expected_events": [5.0],
                              "events_lo80": [2.0], "events_hi80": [30.0]})
    hindcast = pd.DataFrame({"district_code": ["A", "A"], "origin": [weeks[-1], weeks[-2]], "mean": [1.0, 1.5],
                             "q10": [0.0, 0.0], "q90": [3.0, 4.0]})
    upcoming = pd.DataFrame({"district_code": ["A"], "expected_events": [4.0], "events_lo80": [1.0], "events_hi80": [7.0]})
    h = history_frame(observed, published, hindcast, upcoming, WEEK)
    assert len(h) == HISTORY_WEEKS + 1 and h["week_start"].iloc[-1] == WEEK
    by_week = h.set_index("week_start")
    assert by_week.loc[weeks[-1], ["mean", "source"]].tolist() == [5.0, "published"]  # published wins
    assert by_week.loc[weeks[-2], ["mean", "hi", "source"]].tolist() == [1.5, 4.0, "backtest"]
    assert by_week.loc[WEEK, "source"] == "this week" and np.isnan(by_week.loc[WEEK, "events"])
    assert by_week.loc[weeks[0], "source"] == "" and by_week.loc[weeks[3], "events"] == 3.0

    chart = history_charts(h)["A"]
    assert len(chart["bars"]) == HISTORY_WEEKS - 1  # week 0 had no event
    assert [m["source"] for m in chart["marks"]] == ["backtest", "published", "this week"]
    assert chart["summary"].endswith("2 weeks with a forecast, 1 of them inside its 80% interval")  # 24 > 4, 25 <= 30
    assert chart["top"] == "30" and chart["has_backtest"]
    assert all(0 <= b["bar_y"] <= chart["baseline"] and b["bar_h"] >= 0 for b in chart["bars"])


def events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["event_id", "event_date", "district_code", "admin2", "event_type", "actor1",
                                       "actor2", "fatalities", "notes"]).assign(
        event_date=lambda f: pd.to_datetime(f["event_date"]), fatalities=lambda f: f["fatalities"].astype("Int64"))


def test_deadliest_events_of_the_week_with_notes_or_of_four_weeks():
    names = pd.Series({"A": "Alpha", "B": "Beta"})
    frame = events([
        ("1", "2024-01-03", "A", "a", "Battles", "JNIM", "FAMa", 12, "An ambush."),
        ("2", "2024-01-05", "B", "b", "Violence against civilians", "ISSP", None, 30, None),
        ("3", "2024-01-06", "B", "b", "Protests", "Protesters", None, 0, None),  # not violent
        ("4", "2024-01-08", "A", "a", "Battles", "JNIM", None, 99, None),  # on the cutoff: not known
        ("5", "2023-12-20", "A", "a", "Battles", "JNIM", None, 50, None),  # before the week
    ])
    view = deadliest_events(frame, WEEK, names)
    assert view["weeks"] == 1 and view["n_events"] == 2 and view["has_notes"]
    assert [(r["district"], r["fatalities"], r["actors"]) for r in view["rows"]] == [("Beta", 30, "ISSP"),
                                                                                  ("Alpha", 12, "JNIM vs FAMa")]
    older = deadliest_events(frame[frame["event_id"] == "5"], WEEK, names)
    assert older["weeks"] == 4 and [r["fatalities"] for r in older["rows"]] == [50] and not older["has_notes"]


def test_headline_table_and_view_against_the_naive_rules():
    predictions = pd.DataFrame({"model": ["base_rate"] * 4, "kind": "hazard", "horizon": 4, "event": [1, 0, 0, 0]})
    metrics = pd.DataFrame({
        "model": np.repeat(["blend", "district_history", "base_rate", "negbin"], 2), "kind": ["hazard"] * 6 + ["count"] * 2,
        "horizon": 4, "metric": ["brier", "average_precision"] * 4,
        "value": [0.09, 0.5, 0.10, 0.4, 0.12, 0.25, 0.5, 0.5]})
    table = headline_table(BacktestResult(predictions, metrics, pd.DataFrame()))
    assert table["model"].tolist() == ["blend", "district_history", "base_rate"]  # counts are another event
    assert table["skill_vs_history"].round(6).tolist() == [0.1, 0.0, -0.2]
    assert table["skill_vs_base_rate"].iloc[0] == pytest.approx(0.25) and table["base_rate"].iloc[0] == 0.25
    view = headline_view(table, "blend")
    assert [r["model"] for r in view["rows"]] == ["blend", "district-history rule (naive)", "base rate (naive)"]
    assert [r["is_champion"] for r in view["rows"]] == [True, False, False]
    assert view["rows"][0]["vs_history"] == "+10%" and view["rows"][2]["worse"] and view["base_rate"] == "25.0%"
    assert "10% lower than the naive district-history rule" in view["verdict"]
    assert not headline_view(None, "blend")["available"]


def test_signed_percent_never_prints_minus_zero():
    assert signed_percent(pd.Series([0.12, -0.004, 0.0, -0.031, None])).tolist() == ["+12%", "0%", "0%", "-3%", "\u2014"]
