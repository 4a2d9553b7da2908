"""Tests of features.forces: presence at the Monday, arrivals and withdrawal vacuum, neighbours, nearest base,
force-involving events, point-in-time behaviour, and a smoke run on the shipped Mali registries."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from features.forces import (
    DISTANCE_CAP_KM,
    EARTH_RADIUS_KM,
    departures,
    foreign_force_features,
)
from features.gazetteer import Gazetteer
from features.panel import Panel
from features.registries import assign_deployments, load_foreign_forces
from features.spec import catalog

N_WEEKS = 30
MONDAYS = pd.date_range("2021-01-04", periods=N_WEEKS, freq="7D")
CAP = 8  # vacuum cap of the hand-made tests
DAY = pd.Timedelta(days=1)


def week(k: int, day: int = 0) -> pd.Timestamp:
    """Day ``day`` (0 = Monday) of panel week ``k``."""
    return MONDAYS[0] + pd.Timedelta(days=7 * k + day)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    """Three 1-degree squares in a row, A - B - C (A and C are not neighbours); centroids (14.5, 0.5 / 1.5 / 2.5)."""
    districts = gpd.GeoDataFrame(
        {
            "district_code": ["A", "B", "C"],
            "district_name": ["Alpha", "Bravo", "Charlie"],
            "admin1_name": ["R", "R", "R"],
            "population": [100, 200, 300],
        },
        geometry=[shapely.box(i, 14, i + 1, 15) for i in range(3)],
        crs="EPSG:4326",
    )
    return Gazetteer.from_frames("TST", districts)


@pytest.fixture(scope="module")
def panel() -> Panel:
    return Panel(pd.Index(["A", "B", "C"], dtype="string", name="district_code"),
                 pd.DatetimeIndex(MONDAYS.astype("datetime64[s]"), name="week_start"))


def deployments(rows: list[tuple]) -> pd.DataFrame:
    """Deployments from (district_code, kind, start, end, latitude, longitude) tuples."""
    code, kind, start, end, lat, lon = zip(*rows)
    return pd.DataFrame({
        "deployment_id": [f"dep{i}" for i in range(len(rows))],
        "force": "Test force",
        "kind": list(kind),
        "start": pd.to_datetime(list(start)).astype("datetime64[s]"),
        "end": pd.to_datetime(list(end)).astype("datetime64[s]"),
        "latitude": pd.array(lat, dtype="Float64"),
        "longitude": pd.array(lon, dtype="Float64"),
        "district_code": pd.array(code, dtype="string"),
    })


BASE_ROWS = [
    # A: foreign combat arrives on the Wednesday of week 5, leaves on the Thursday of week 12.
    ("A", "foreign combat", week(5, 2), week(12, 3), 14.6, 0.4),
    # B: foreign combat from the Monday of week 2 to the Monday of week 20.
    ("B", "foreign combat", week(2), week(20), 14.5, 1.9),
    # C: peacekeeping since before the panel, ongoing.
    ("C", "peacekeeping", week(-15), None, 14.5, 2.5),
    # C: two foreign combat deployments handing over (Thursday / Friday of week 15): no departure.
    ("C", "foreign combat", week(8, 3), week(15, 3), 14.4, 2.6),
    ("C", "foreign combat", week(15, 4), None, 14.4, 2.6),
    # A: a three-day operation between two Mondays: never present.
    ("A", "regional", week(22, 1), week(22, 4), 14.5, 0.5),
]


def events(rows: list[tuple]) -> pd.DataFrame:
    """Events from (event_date, district_code, actor1, actor2, assoc_actors) tuples."""
    date, code, actor1, actor2, assoc = zip(*rows)
    return pd.DataFrame({
        "event_date": pd.to_datetime(list(date)).astype("datetime64[s]"),
        "district_code": pd.array(code, dtype="string"),
        "event_type": pd.array(["Battles"] * len(rows), dtype="string"),
        "actor1": pd.array(actor1, dtype="string"),
        "actor2": pd.array(actor2, dtype="string"),
        "assoc_actors": pd.array(assoc, dtype="string"),
    })


FRANCE = "Military Forces of France (2017-)"
MINUSMA = "MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)"
EVENT_ROWS = [
    (week(-10, 2), "A", FRANCE, "JNIM: Group for Support of Islam and Muslims", None),  # before the panel
    (week(4, 1), "A", FRANCE, "JNIM: Group for Support of Islam and Muslims", None),
    (week(4, 6), "B", "JNIM: Group for Support of Islam and Muslims", None,
     "Military Forces of Mali (2021-); " + MINUSMA),  # peacekeepers among the associated actors
    (week(10), "A", "Military Forces of Mali (2021-)", "Unidentified Armed Group (Mali)", None),  # no foreign force
    (week(10, 2), "A", "Wagner Group", FRANCE, None),  # two kinds in one event
    (week(11), None, FRANCE, None, None),  # no district: ignored
]


def build(gazetteer, panel, dep_rows=BASE_ROWS, event_rows=EVENT_ROWS):
    return foreign_force_features(panel, gazetteer, deployments(dep_rows), events(event_rows), vacuum_cap_weeks=CAP)


@pytest.fixture(scope="module")
def block(gazetteer, panel):
    return build(gazetteer, panel)


def series(block, name: str, district: str) -> np.ndarray:
    return block.values[name]["ABC".index(district)]


def indicator(weeks: range | list[int]) -> np.ndarray:
    out = np.zeros(N_WEEKS, dtype=np.float32)
    out[list(weeks)] = 1
    return out


def haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h)))


# ---------------------------------------------------------------------- presence and vacuum


def test_every_value_is_a_dense_float32_array_described_by_a_spec(block):
    assert block.names == [s.name for s in block.specs] and len(set(block.names)) == len(block.names)
    for name in block.names:
        assert block.values[name].shape == (3, N_WEEKS) and block.values[name].dtype == np.float32
        assert np.isfinite(block.values[name]).all(), name
    table = catalog(block.specs)
    assert set(table["family"]) == {"foreign_presence", "foreign_force_events"}
    assert table["description"].str.len().gt(20).all() and table["unit"].notna().all()


def test_presence_switches_on_the_week_after_the_arrival_and_off_after_the_end_week(block):
    # Arrival on the Wednesday of week 5: present at the Mondays of weeks 6 .. 12 (end on the Thursday of week 12).
    np.testing.assert_array_equal(series(block, "ff_foreign_combat_bases", "A"), indicator(range(6, 13)))
    # Start and end on Mondays: start < Monday <= end gives weeks 3 .. 20.
    np.testing.assert_array_equal(series(block, "ff_foreign_combat_bases", "B"), indicator(range(3, 21)))
    # The handover in C keeps one base from week 9 on.
    np.testing.assert_array_equal(series(block, "ff_foreign_combat_bases", "C"), indicator(range(9, N_WEEKS)))
    np.testing.assert_array_equal(series(block, "ff_peacekeeping_bases", "C"), np.ones(N_WEEKS))
    np.testing.assert_array_equal(series(block, "ff_any_bases", "C"), 1 + indicator(range(9, N_WEEKS)))
    # The three-day operation never spans a Monday.
    assert not block.values["ff_regional_bases"].any()
    assert (block.values["ff_regional_nearest_km"] == DISTANCE_CAP_KM).all()


def test_arrival_and_withdrawal_vacuum_count_weeks_and_cap(block):
    arrival = series(block, "ff_foreign_combat_weeks_since_arrival", "A")
    np.testing.assert_array_equal(arrival[:6], [CAP] * 6)
    np.testing.assert_array_equal(arrival[6:14], [1, 2, 3, 4, 5, 6, 7, 8])
    assert (arrival[14:] == CAP).all()
    vacuum = series(block, "ff_foreign_combat_weeks_since_departure", "A")
    np.testing.assert_array_equal(vacuum[:13], [CAP] * 13)
    np.testing.assert_array_equal(vacuum[13:23], [1, 2, 3, 4, 5, 6, 7, 8, 8, 8])
    np.testing.assert_array_equal(series(block, "ff_any_weeks_since_departure", "A"), vacuum)
    # B's base left at the Monday of week 20: still present then, vacuum 1 in week 21.
    vacuum_b = series(block, "ff_foreign_combat_weeks_since_departure", "B")
    np.testing.assert_array_equal(vacuum_b[19:24], [CAP, CAP, 1, 2, 3])
    # A handover between two deployments of one kind is no departure; a second kind's presence is no arrival.
    assert (series(block, "ff_any_weeks_since_departure", "C") == CAP).all()
    np.testing.assert_array_equal(series(block, "ff_foreign_combat_weeks_since_arrival", "C")[8:11], [CAP, 1, 2])
    assert (series(block, "ff_peacekeeping_weeks_since_arrival", "C") == CAP).all()


def test_base_closed_and_presence_changes(block):
    np.testing.assert_array_equal(series(block, "ff_base_closed_w13", "A"), indicator(range(13, 26)))
    np.testing.assert_array_equal(series(block, "ff_base_closed_w13", "B"), indicator(range(21, N_WEEKS)))
    assert not series(block, "ff_base_closed_w13", "C").any()
    changes = series(block, "ff_presence_changes_w52", "A")
    np.testing.assert_array_equal(changes, indicator(range(6, N_WEEKS)) + indicator(range(13, N_WEEKS)))
    # C: peacekeepers arrived in week -15 (before the panel, within 52 weeks), foreign combat in week 8.
    np.testing.assert_array_equal(series(block, "ff_presence_changes_w52", "C"), 1 + indicator(range(9, N_WEEKS)))


def test_vacuum_own_and_neighbours(block):
    # A's foreign combat leaves in week 12 (first Monday without: 13), B's in week 20 (without: 21); no handover.
    assert np.array_equal(series(block, "ff_vacuum_w26", "A"), indicator(range(13, N_WEEKS)))
    assert np.array_equal(series(block, "ff_vacuum_w26", "B"), indicator(range(21, N_WEEKS)))
    assert np.array_equal(series(block, "ff_vacuum_w26", "C"), indicator([]))  # C's handover is no departure
    assert np.array_equal(series(block, "ff_vacuum_nbr_w26", "B"), indicator(range(13, N_WEEKS)))  # from A
    assert np.array_equal(series(block, "ff_vacuum_nbr_w26", "A"), indicator(range(21, N_WEEKS)))  # from B
    assert np.array_equal(series(block, "ff_vacuum_nbr_w26", "C"), indicator(range(21, N_WEEKS)))  # A is not C's
    assert not series(block, "ff_handover_w26", "A").any()


def test_a_handover_to_another_kind_is_no_vacuum(gazetteer, panel):
    rows = [("A", "foreign combat", week(5, 2), week(12, 3), 14.6, 0.4),
            ("A", "private military", week(12, 4), None, 14.6, 0.4),
            ("B", "national army", week(-3), week(20), 14.5, 1.5)]
    deps = deployments(rows).assign(replaced_by=pd.array(["dep1", None, None], dtype="string"))
    block = foreign_force_features(panel, gazetteer, deps, events(EVENT_ROWS), vacuum_cap_weeks=CAP)
    assert np.array_equal(series(block, "ff_handover_w26", "A"), indicator(range(13, N_WEEKS)))
    assert not series(block, "ff_vacuum_w26", "A").any()
    # The army leaving B is a vacuum there and next door, but "any" (foreign kinds) never saw the army.
    assert np.array_equal(series(block, "ff_vacuum_w26", "B"), indicator(range(21, N_WEEKS)))
    assert np.array_equal(series(block, "ff_vacuum_nbr_w26", "C"), indicator(range(21, N_WEEKS)))
    assert np.array_equal(series(block, "ff_national_army_bases", "B"), indicator(range(0, 21)))
    assert not series(block, "ff_any_bases", "B").any()
    table = departures(deps, MONDAYS[0], MONDAYS[-1])
    assert table[["district_code", "kind", "week_start", "handed_over"]].values.tolist() == [
        ["A", "foreign combat", week(13), True], ["B", "national army", week(21), False]]
    assert table["label"].tolist() == ["Test force leaves A (handed over to dep1)", "Test force leaves B"]


def test_neighbours_presence(block):
    # A's neighbour is B (foreign combat weeks 3 .. 20); B's neighbours are A (6 .. 12) and C (9 ..).
    np.testing.assert_array_equal(series(block, "ff_foreign_combat_nbr_present", "A"), indicator(range(3, 21)))
    np.testing.assert_array_equal(series(block, "ff_foreign_combat_nbr_present", "B"), indicator(range(6, N_WEEKS)))
    # Peacekeepers are only in C: B sees them next door, A (not a neighbour of C) does not.
    np.testing.assert_array_equal(series(block, "ff_peacekeeping_nbr_present", "B"), np.ones(N_WEEKS))
    assert not series(block, "ff_peacekeeping_nbr_present", "A").any()
    assert not series(block, "ff_peacekeeping_nbr_present", "C").any()  # own base is not a neighbour's


def test_nearest_base_distance_changes_when_a_base_opens_or_closes(block):
    km_a1 = haversine(14.5, 0.5, 14.6, 0.4)  # A's own base
    km_b = haversine(14.5, 0.5, 14.5, 1.9)  # B's base
    km_c = haversine(14.5, 0.5, 14.4, 2.6)  # C's base
    expected = np.full(N_WEEKS, DISTANCE_CAP_KM)
    expected[3:6], expected[6:13], expected[13:21], expected[21:] = km_b, km_a1, km_b, km_c
    expected[9:13] = km_a1  # C opened in week 9 but A's own base is nearer
    np.testing.assert_allclose(series(block, "ff_foreign_combat_nearest_km", "A"), expected, rtol=1e-6)
    np.testing.assert_allclose(series(block, "ff_peacekeeping_nearest_km", "A"),
                               np.full(N_WEEKS, haversine(14.5, 0.5, 14.5, 2.5)), rtol=1e-6)
    assert (series(block, "ff_peacekeeping_nearest_km", "C") < 1e-3).all()
    any_km = series(block, "ff_any_nearest_km", "A")
    np.testing.assert_allclose(any_km, np.minimum(expected, haversine(14.5, 0.5, 14.5, 2.5)), rtol=1e-6)


def test_nearest_base_is_the_same_in_chunks(gazetteer, panel, monkeypatch):
    import features.forces as forces

    whole = build(gazetteer, panel)
    monkeypatch.setattr(forces, "_CHUNK_ELEMENTS", 1)  # one district at a time
    chunked = build(gazetteer, panel)
    for name in whole.names:
        np.testing.assert_array_equal(whole.values[name], chunked.values[name], err_msg=name)


# ---------------------------------------------------------------------- events


def test_event_counts_use_only_earlier_events_by_kind_and_neighbours(block):
    fc_a = series(block, "ff_events_foreign_combat_w4", "A")
    np.testing.assert_array_equal(fc_a, indicator(range(5, 9)) + indicator(range(11, 15)))
    np.testing.assert_array_equal(series(block, "ff_events_any_w4", "A"), fc_a)  # the two-kind event counts once
    np.testing.assert_array_equal(series(block, "ff_events_private_military_w4", "A"), indicator(range(11, 15)))
    # The pre-panel event (week -10) is still in the 52-week window at the start of the panel.
    assert series(block, "ff_events_foreign_combat_w52", "A")[0] == 1
    assert series(block, "ff_events_foreign_combat_w52", "A")[5] == 2
    # Peacekeepers named among B's associated actors: in B, and next door for A and C.
    np.testing.assert_array_equal(series(block, "ff_events_peacekeeping_w4", "B"), indicator(range(5, 9)))
    for d in "AC":
        np.testing.assert_array_equal(series(block, "ff_events_peacekeeping_nbr_w4", d), indicator(range(5, 9)))
    assert not series(block, "ff_events_peacekeeping_nbr_w4", "B").any()
    # Next door for B: A's events of weeks -10 (in the window until week 3), 4 and 10.
    np.testing.assert_array_equal(series(block, "ff_events_foreign_combat_nbr_w13", "B"),
                                  indicator(range(0, 4)) + indicator(range(5, 18)) + indicator(range(11, 24)))
    # A kind with actor patterns but no event here still has its (zero) columns.
    assert not block.values["ff_events_training_w52"].any()


# ---------------------------------------------------------------------- point in time


@pytest.mark.parametrize("k", [3, 10, 14, 25])
def test_rows_dated_after_week_t_change_no_value_up_to_t(gazetteer, panel, block, k):
    later_deployments = BASE_ROWS + [
        ("A", "peacekeeping", week(k), None, 14.5, 0.5),  # arrives on the Monday of week k
        ("B", "training", week(k, 3), week(k + 2), 14.5, 1.5),
        ("C", "foreign combat", week(k, 6), None, 14.5, 2.4),
    ]
    later_events = EVENT_ROWS + [(week(k), "A", FRANCE, None, None), (week(k, 5), "B", MINUSMA, None, None)]
    later = build(gazetteer, panel, later_deployments, later_events)
    assert later.names == block.names
    for name in block.names:
        np.testing.assert_array_equal(later.values[name][:, : k + 1], block.values[name][:, : k + 1], err_msg=name)
    assert any((later.values[n][:, k + 1:] != block.values[n][:, k + 1:]).any() for n in block.names)


def test_kinds_argument_and_errors(gazetteer, panel):
    only = foreign_force_features(panel, gazetteer, deployments(BASE_ROWS), events(EVENT_ROWS),
                                  kinds=("peacekeeping",), windows=(4,))
    assert "ff_foreign_combat_bases" not in only.names and "ff_peacekeeping_bases" in only.names
    assert "ff_foreign_combat_weeks_since_arrival" not in only.names
    assert (only.values["ff_any_bases"][0] == 0).all()  # A's foreign combat base is not counted
    assert {"ff_events_peacekeeping_w4", "ff_events_any_w4"} <= set(only.names)
    with pytest.raises(ValueError, match="unknown force kinds"):
        foreign_force_features(panel, gazetteer, deployments(BASE_ROWS), events(EVENT_ROWS), kinds=("navy",))
    other = Panel(pd.Index(["A", "Z"], dtype="string"), panel.weeks)
    with pytest.raises(ValueError, match="not in the gazetteer"):
        foreign_force_features(other, gazetteer, deployments(BASE_ROWS), events(EVENT_ROWS))


# ---------------------------------------------------------------------- shipped Mali registries


@pytest.fixture(scope="module")
def mali():
    gazetteer = Gazetteer.load("MLI")
    weeks = pd.date_range("2012-01-02", "2024-12-30", freq="7D").astype("datetime64[s]")
    panel = Panel(pd.Index(gazetteer.districts["district_code"], dtype="string", name="district_code"),
                  pd.DatetimeIndex(weeks, name="week_start"))
    deps = assign_deployments(load_foreign_forces(), gazetteer.assign)
    no_events = events([(week(0), "A", None, None, None)]).iloc[:0]
    block = foreign_force_features(panel, gazetteer, deps, no_events)
    code = gazetteer.districts.set_index("district_name")["district_code"]
    return panel, block, code


def mali_series(mali, name: str, district: str) -> pd.Series:
    panel, block, code = mali
    return pd.Series(block.values[name][panel.districts.get_loc(code[district])], index=panel.weeks)


def test_mali_shapes_and_no_nan(mali):
    panel, block, _ = mali
    assert panel.shape == (50, 679)
    for name in block.names:
        assert block.values[name].shape == panel.shape and np.isfinite(block.values[name]).all(), name
    assert (block.values["ff_any_nearest_km"] <= DISTANCE_CAP_KM).all()


def test_mali_gao_has_foreign_combat_in_2015_not_in_2023(mali):
    gao = mali_series(mali, "ff_foreign_combat_bases", "Gao")
    assert (gao.loc["2015"] >= 1).all()
    assert (gao.loc["2023"] == 0).all()
    # The Serval -> Barkhane handover of 2014-07-31 / 08-01 is no departure.
    assert (mali_series(mali, "ff_foreign_combat_weeks_since_departure", "Gao").loc["2014"] == 52).all()


def test_mali_kidal_vacuum_after_minusma_left(mali):
    # MINUSMA left Kidal on Tuesday 2023-10-31 (week of Monday 2023-10-30).
    bases = mali_series(mali, "ff_peacekeeping_bases", "Kidal")
    assert bases["2023-10-30"] == 1 and bases["2023-11-06"] == 0
    vacuum = mali_series(mali, "ff_peacekeeping_weeks_since_departure", "Kidal")
    assert vacuum["2023-10-30"] == 52
    np.testing.assert_array_equal(vacuum["2023-11-06":"2023-11-27"], [1, 2, 3, 4])
    assert mali_series(mali, "ff_base_closed_w13", "Kidal")["2023-11-06"] == 1
    # Wagner entered on Tuesday 2023-11-14: present from Monday 2023-11-20.
    wagner = mali_series(mali, "ff_private_military_bases", "Kidal")
    assert wagner["2023-11-13"] == 0 and wagner["2023-11-20"] == 1


def test_nearest_active_km_matches_brute_force_on_random_intervals():
    from features.forces import _nearest_active_km

    rng = np.random.default_rng(7)
    distances = rng.uniform(0, 1500, size=(7, 9))
    start = rng.integers(0, 40, 9)
    stop = start + rng.integers(0, 25, 9)
    t = np.arange(40)
    active = (t[None, :] >= start[:, None]) & (t[None, :] < stop[:, None])
    brute = np.where(active[None, :, :], distances[:, :, None], np.inf).min(axis=1)
    np.testing.assert_allclose(_nearest_active_km(distances, active, 1000.0), np.minimum(brute, 1000.0), rtol=1e-6)
