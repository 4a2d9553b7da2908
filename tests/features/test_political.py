"""Tests of features.political: calendar groups, weeks since / recent indicators, announced upcoming elections,
unrest counts, point-in-time behaviour, and a smoke run on the shipped Mali calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.panel import Panel
from features.political import CALENDAR_GROUPS, political_features
from features.registries import CALENDAR_KINDS, load_political_calendar
from features.spec import catalog

N_WEEKS = 30
MONDAYS = pd.date_range("2021-01-04", periods=N_WEEKS, freq="7D")
CAP = 104


def week(k: int, day: int = 0) -> pd.Timestamp:
    """Day ``day`` (0 = Monday) of panel week ``k``."""
    return MONDAYS[0] + pd.Timedelta(days=7 * k + day)


@pytest.fixture(scope="module")
def panel() -> Panel:
    return Panel(pd.Index(["A", "B", "C"], dtype="string", name="district_code"),
                 pd.DatetimeIndex(MONDAYS.astype("datetime64[s]"), name="week_start"))


def calendar(rows: list[tuple]) -> pd.DataFrame:
    """Calendar from (date, kind, announced_on) tuples; scheduled when announced_on is given."""
    date, kind, announced = zip(*rows)
    return pd.DataFrame({
        "date": pd.to_datetime(list(date)).astype("datetime64[s]"),
        "event": [f"event {i}" for i in range(len(rows))],
        "kind": pd.array(kind, dtype="string"),
        "scheduled": pd.array([a is not None for a in announced], dtype="boolean"),
        "announced_on": pd.to_datetime(list(announced)).astype("datetime64[s]"),
        "source_note": "test",
    })


CALENDAR_ROWS = [
    (week(-30, 4), "sanctions lifted", None),  # before the panel
    (week(8, 2), "coup", None),  # Wednesday of week 8
    (week(20, 6), "election", week(10, 3)),  # Sunday of week 20, announced on the Thursday of week 10
    (week(12), "peace accord", None),
    (week(13, 1), "accord ended", None),
]


def events(rows: list[tuple]) -> pd.DataFrame:
    """Events from (event_date, district_code, event_type) tuples."""
    date, code, event_type = zip(*rows)
    return pd.DataFrame({
        "event_date": pd.to_datetime(list(date)).astype("datetime64[s]"),
        "district_code": pd.array(code, dtype="string"),
        "event_type": pd.array(event_type, dtype="string"),
    })


EVENT_ROWS = [
    (week(3, 1), "A", "Protests"),
    (week(3, 4), "A", "Protests"),
    (week(3, 6), "B", "Protests"),
    (week(5), "C", "Riots"),
    (week(5), "C", "Battles"),  # not unrest
    (week(6), None, "Strategic developments"),  # no district: not counted
    (week(-2), "B", "Strategic developments"),  # before the panel
    (week(40), "A", "Protests"),  # after the panel
]


def build(panel, cal_rows=CALENDAR_ROWS, event_rows=EVENT_ROWS, **kwargs):
    return political_features(panel, calendar(cal_rows), events(event_rows), **kwargs)


@pytest.fixture(scope="module")
def block(panel):
    return build(panel)


def national(block, name: str) -> np.ndarray:
    values = block.values[name]
    assert (values == values[0]).all(), f"{name} differs between districts"
    return values[0]


def indicator(weeks) -> np.ndarray:
    out = np.zeros(N_WEEKS, dtype=np.float32)
    out[list(weeks)] = 1
    return out


def test_every_calendar_kind_is_in_exactly_one_group():
    grouped = [k for kinds in CALENDAR_GROUPS.values() for k in kinds]
    assert sorted(grouped) == sorted(CALENDAR_KINDS)
    assert list(CALENDAR_GROUPS) == ["coup", "election", "sanctions", "accord", "repression", "alliance",
                                     "foreign_force_change", "major_attack", "other"]


def test_block_is_dense_float32_and_described(block):
    for name in block.names:
        assert block.values[name].shape == (3, N_WEEKS) and block.values[name].dtype == np.float32
        assert np.isfinite(block.values[name]).all(), name
    table = catalog(block.specs)
    assert set(table["family"]) == {"political_calendar", "political_unrest"}
    assert table["name"].is_unique


def test_coup_weeks_since_and_recent_indicators(block):
    since = national(block, "pol_weeks_since_coup")
    np.testing.assert_array_equal(since[:9], [CAP] * 9)  # dated in week 8: unknown at week 8's Monday
    np.testing.assert_array_equal(since[9:], np.arange(1, N_WEEKS - 8))
    np.testing.assert_array_equal(national(block, "pol_coup_w4"), indicator(range(9, 13)))
    np.testing.assert_array_equal(national(block, "pol_coup_w13"), indicator(range(9, 22)))


def test_grouped_kinds_and_history_before_the_panel(block):
    # Peace accord (week 12) and accord ended (week 13) are one group.
    np.testing.assert_array_equal(national(block, "pol_weeks_since_accord")[12:16], [CAP, 1, 1, 2])
    np.testing.assert_array_equal(national(block, "pol_accord_w4"), indicator(range(13, 18)))
    # "sanctions lifted" 30 weeks before the panel starts.
    np.testing.assert_array_equal(national(block, "pol_weeks_since_sanctions")[:3], [30, 31, 32])
    assert (national(block, "pol_weeks_since_major_attack") == CAP).all()


def test_upcoming_election_appears_only_once_announced(block):
    until = national(block, "pol_weeks_until_election")
    # Announced on the Thursday of week 10: known from week 11; held in week 20; none announced afterwards.
    np.testing.assert_array_equal(until[:11], [CAP] * 11)
    np.testing.assert_array_equal(until[11:21], 20 - np.arange(11, 21))
    np.testing.assert_array_equal(until[21:], [CAP] * (N_WEEKS - 21))
    np.testing.assert_array_equal(national(block, "pol_election_next4w"), indicator(range(17, 21)))
    since = national(block, "pol_weeks_since_election")
    np.testing.assert_array_equal(since[20:23], [CAP, 1, 2])


def test_cap_weeks(panel):
    capped = build(panel, cap_weeks=6)
    np.testing.assert_array_equal(national(capped, "pol_weeks_until_election")[10:16], [6, 6, 6, 6, 6, 5])
    np.testing.assert_array_equal(national(capped, "pol_weeks_since_coup")[8:17], [6, 1, 2, 3, 4, 5, 6, 6, 6])


def test_unrest_counts_district_and_national(block):
    np.testing.assert_array_equal(block.values["pol_protests_w4"][0], 2 * indicator(range(4, 8)))
    np.testing.assert_array_equal(block.values["pol_protests_w4"][1], indicator(range(4, 8)))
    assert not block.values["pol_protests_w4"][2].any()
    np.testing.assert_array_equal(national(block, "pol_protests_national_w4"), 3 * indicator(range(4, 8)))
    np.testing.assert_array_equal(block.values["pol_riots_w13"][2], indicator(range(6, 19)))
    # B's strategic development of week -2 is in the 4-week window of weeks 0 .. 2.
    np.testing.assert_array_equal(block.values["pol_strategic_w4"][1], indicator(range(0, 3)))
    np.testing.assert_array_equal(national(block, "pol_strategic_national_w52"), np.ones(N_WEEKS))


@pytest.mark.parametrize("k", [2, 9, 10, 19])
def test_rows_dated_after_week_t_change_no_value_up_to_t(panel, block, k):
    later_calendar = CALENDAR_ROWS + [
        (week(k), "coup", None),
        (week(k, 2), "major attack", None),
        (week(k + 3), "referendum", week(k, 5)),  # announced during week k, held three weeks later
        (week(k + 8), "election", week(k)),  # announced on week k's Monday
    ]
    later_events = EVENT_ROWS + [(week(k), "A", "Protests"), (week(k, 6), "C", "Riots")]
    later = build(panel, later_calendar, later_events)
    assert later.names == block.names
    for name in block.names:
        np.testing.assert_array_equal(later.values[name][:, : k + 1], block.values[name][:, : k + 1], err_msg=name)
    # From week k + 1 the referendum (held in week k + 3) is known and upcoming.
    before = national(block, "pol_weeks_until_election")[k + 1]
    assert national(later, "pol_weeks_until_election")[k + 1] == min(2, before)


def test_unknown_calendar_kind_is_rejected(panel):
    with pytest.raises(ValueError, match="unknown calendar kinds"):
        build(panel, CALENDAR_ROWS + [(week(3), "putsch", None)])


def test_mali_calendar_smoke():
    weeks = pd.date_range("2012-01-02", "2024-12-30", freq="7D").astype("datetime64[s]")
    codes = [f"ML{i:04d}" for i in range(1, 51)]
    mali = Panel(pd.Index(codes, dtype="string", name="district_code"), pd.DatetimeIndex(weeks, name="week_start"))
    no_events = events([(week(0), "A", "Protests")]).iloc[:0]
    block = political_features(mali, load_political_calendar(), no_events)
    for name in block.names:
        assert block.values[name].shape == (50, 679) and np.isfinite(block.values[name]).all(), name
    frame = pd.DataFrame({name: block.values[name][7] for name in block.names}, index=mali.weeks)
    # The coup of Tuesday 2020-08-18 (week of 2020-08-17).
    assert frame.loc["2020-08-17", "pol_weeks_since_coup"] == 104  # the 2012 coup is beyond the cap
    assert frame.loc["2020-08-24", "pol_weeks_since_coup"] == 1
    # The referendum of Sunday 2023-06-18 (week of 2023-06-12), announced on Friday 2023-05-05.
    assert frame.loc["2023-05-01", "pol_weeks_until_election"] == 104
    assert frame.loc["2023-05-08", "pol_weeks_until_election"] == 5
    assert frame.loc["2023-06-12", "pol_weeks_until_election"] == 0
    assert frame.loc["2023-05-29":"2023-06-12", "pol_election_next4w"].eq(1).all()
    assert frame.loc["2023-06-19", "pol_weeks_since_election"] == 1
