"""What the command prints: rendered from results, never crashing on missing values."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from publish import console as views


def _render(renderable) -> str:
    out = Console(width=200, record=True)
    out.print(renderable)
    return out.export_text()


def _scores(change):
    return pd.DataFrame({
        "horizon_weeks": [1, 1], "rank": [1, 2], "district_code": ["D1", "D2"], "district_name": ["A", "B"],
        "admin1_name": ["R", "R"], "risk_score": [30.0, 5.0], "tier": ["high", "low"],
        "score_change": pd.array(change, dtype="Float64"), "expected_events": [1.2, 0.1], "events_lo80": [0.0, 0.0],
        "events_hi80": [3.0, 1.0], "week_start": pd.to_datetime(["2020-06-01"] * 2), "is_simulated": [False, False],
        "event_source": ["ucdp", "ucdp"], "country_iso3": ["MLI", "MLI"]})


def test_scores_table_with_no_previous_week():
    """First publication: score_change is null for every district (used to raise on pd.NA)."""
    text = _render(views.scores_view(_scores([None, None]), None))
    assert "MLI, week of 2020-06-01" in text and "A" in text and "30.0" in text
    assert "scored from ucdp events" in text


def test_scores_table_shows_signed_changes():
    text = _render(views.scores_view(_scores([2.5, None]), None))
    assert "+2.5" in text


def test_horizons_are_parsed_or_refused():
    assert views.parse_horizons("1,4,13") == (1, 4, 13)
    with pytest.raises(ValueError, match="--horizons"):
        views.parse_horizons("1,four")
    with pytest.raises(ValueError, match="positive"):
        views.parse_horizons("0,4")


def test_no_scores_messages_say_what_is_missing():
    assert "week of 2020-06-01" in views.no_scores_message(date(2020, 6, 1), None)
    assert "horizon 2" in views.no_scores_message(None, 2) and "vigie run" not in views.no_scores_message(None, 2)
    assert "vigie run" in views.no_scores_message(None, None)


def test_json_line_writes_dates_and_numpy_scalars():
    line = views.json_line({"week": date(2020, 6, 1), "n": np.int64(3), "x": np.float64(0.5)})
    assert line.endswith("\n") and json.loads(line) == {"week": "2020-06-01", "n": 3, "x": 0.5}


def test_days_and_instants_are_written_one_way_everywhere():
    frame = pd.DataFrame({"week_start": pd.to_datetime(["2020-06-01", "2020-06-08"]),
                          "data_cutoff": [date(2020, 6, 1), None],
                          "published_at": pd.to_datetime(["2026-12-03 14:10:03.123456+00:00"] * 2),
                          "risk_score": [12.5, np.nan]})
    rows = views.json_records(frame)
    assert rows[0] == {"week_start": "2020-06-01", "data_cutoff": "2020-06-01",
                       "published_at": "2026-12-03T14:10:03+00:00", "risk_score": 12.5}
    assert rows[1]["data_cutoff"] is None and rows[1]["risk_score"] is None
    line = json.loads(views.json_line({"week": pd.Timestamp("2020-06-01"), "at": pd.Timestamp("2026-12-03 14:10:03.5", tz="UTC")}))
    assert line == {"week": "2020-06-01", "at": "2026-12-03T14:10:03+00:00"}
    assert views.scores_json(frame)["scores"] == rows
