"""Oracle tests: features and targets recomputed with independent DuckDB SQL on a hand-made dataset.

Six districts (the 3 x 2 grid of ``Gazetteer.synthetic(6)``), 20 weeks from Monday 2024-01-01, 32 events
written below. The SQL side never calls Vigie code: weeks come from ``date_trunc('week', ...)``, families
from a hand-written actor table, neighbours from a hand-written pair list, distances from the haversine
formula, windows from ``SUM(...) OVER (... ROWS BETWEEN w PRECEDING AND 1 PRECEDING)``.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.gazetteer import Gazetteer
from features.schema import conform
from features.table import FeatureConfig, build_feature_table

START = pd.Timestamp("2024-01-01")  # a Monday
FORECAST = pd.Timestamp("2024-05-13")  # week 19: the panel has weeks 0..19, the last one unobserved
N_OBSERVED = 19

JNIM = "JNIM: Group for Support of Islam and Muslims"
IS = "Islamic State (Greater Sahara)"
FAMA = "Military Forces of Mali (2021-)"
FRANCE = "Military Forces of France (2017-)"
MINUSMA = "MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)"
DOGON = "Dan Na Ambassagou"
UNIDENTIFIED = "Unidentified Armed Group (Mali)"
CIVILIANS = "Civilians (Mali)"
CMA = "CMA: Coordination of Azawad Movements"
PROTESTERS = "Protesters (Mali)"

#: Hand-written families (what the actor-family registry should say about these names).
ACTOR_FAMILY = {
    JNIM: "jnim_aq", IS: "islamic_state", FAMA: "state_forces", FRANCE: "foreign_forces",
    MINUSMA: "foreign_forces", DOGON: "communal_militia", UNIDENTIFIED: "other", CIVILIANS: "civilians",
    CMA: "northern_armed", PROTESTERS: "other",
}

B, E, V = "Battles", "Explosions/Remote violence", "Violence against civilians"
P, S = "Protests", "Strategic developments"

# district, date, event type, actor1, actor2, fatalities
EVENTS = [
    ("SIM00001", "2023-12-31", B, JNIM, FAMA, 9),  # Sunday before the panel: ignored
    ("SIM00001", "2024-01-01", B, JNIM, FAMA, 3),  # Monday of week 0
    ("SIM00001", "2024-01-07", E, JNIM, FRANCE, 6),  # Sunday of week 0
    ("SIM00002", "2024-01-08", V, DOGON, CIVILIANS, 12),
    ("SIM00005", "2024-01-10", B, FAMA, JNIM, 0),
    ("SIM00001", "2024-01-17", B, IS, FAMA, 5),
    ("SIM00003", "2024-01-24", V, UNIDENTIFIED, CIVILIANS, 2),
    ("SIM00004", "2024-01-24", P, PROTESTERS, None, 0),  # not violent
    ("SIM00001", "2024-02-01", E, UNIDENTIFIED, MINUSMA, 1),
    ("SIM00001", "2024-02-02", B, JNIM, FAMA, 4),
    ("SIM00005", "2024-02-05", V, JNIM, CIVILIANS, 7),
    ("SIM00006", "2024-02-14", B, CMA, JNIM, 3),
    ("SIM00002", "2024-02-19", V, DOGON, CIVILIANS, 25),
    ("SIM00002", "2024-02-20", B, JNIM, DOGON, 6),
    (None, "2024-02-21", B, JNIM, FAMA, 40),  # unassigned: ignored
    ("SIM00004", "2024-02-28", E, IS, FAMA, 0),
    ("SIM00001", "2024-03-04", B, JNIM, FAMA, 0),
    ("SIM00003", "2024-03-06", S, FAMA, None, 0),  # not violent
    ("SIM00005", "2024-03-13", B, FAMA, IS, 8),
    ("SIM00005", "2024-03-14", V, IS, CIVILIANS, 3),
    ("SIM00001", "2024-03-20", E, JNIM, FAMA, 2),
    ("SIM00002", "2024-03-27", B, UNIDENTIFIED, FAMA, 1),
    ("SIM00006", "2024-04-01", V, DOGON, CIVILIANS, 0),
    ("SIM00001", "2024-04-08", B, JNIM, FRANCE, 11),
    ("SIM00003", "2024-04-10", B, JNIM, FAMA, 5),
    ("SIM00001", "2024-04-15", V, JNIM, CIVILIANS, 1),
    ("SIM00004", "2024-04-22", B, IS, FAMA, 0),
    ("SIM00002", "2024-04-29", E, UNIDENTIFIED, None, 0),
    ("SIM00005", "2024-05-06", B, JNIM, FAMA, 6),
    ("SIM00005", "2024-05-12", V, DOGON, CIVILIANS, 4),  # Sunday of week 18, the last observed week
    ("SIM00001", "2024-05-13", B, JNIM, FAMA, 30),  # the forecast week: ignored
    ("SIM00002", "2024-06-03", B, JNIM, FAMA, 2),  # after the forecast week: ignored
]

#: Queen neighbours of the 3 x 2 grid (row 1: 1 2 3; row 2: 4 5 6), written by hand.
NEIGHBOUR_PAIRS = [(1, 2), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (2, 6), (3, 5), (3, 6), (4, 5), (5, 6)]

KERNEL_SCALE_KM, KERNEL_RADIUS_KM = 100.0, 40.0  # 40 km: the diagonal (31 km) is in, two cells apart (44 km) out


def make_events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["district_code", "event_date", "event_type", "actor1", "actor2", "fatalities"])
    events = conform(frame.assign(
        event_id=[f"T{i}" for i in range(len(frame))], source="acled", country_iso3="SIM",
        event_date=pd.to_datetime(frame["event_date"]),
    ))
    return events.assign(district_code=frame["district_code"].astype("string"))


@pytest.fixture(scope="module")
def gazetteer():
    return Gazetteer.synthetic(6)


@pytest.fixture(scope="module")
def config():
    return FeatureConfig(horizons=(1, 4), major_military_targets=True, major_min_fatalities=5,
                         kernel_scale_km=KERNEL_SCALE_KM, kernel_radius_km=KERNEL_RADIUS_KM)


@pytest.fixture(scope="module")
def table(gazetteer, config):
    return build_feature_table(make_events(EVENTS), gazetteer, start=START, forecast_week=FORECAST, config=config)


@pytest.fixture(scope="module")
def con(gazetteer):
    con = duckdb.connect()
    raw = pd.DataFrame(EVENTS, columns=["district", "event_date", "event_type", "actor1", "actor2", "fatalities"])
    raw["event_date"] = pd.to_datetime(raw["event_date"])
    con.register("raw_events", raw)
    con.register("actors", pd.DataFrame(list(ACTOR_FAMILY.items()), columns=["actor", "family"]))
    pairs = pd.DataFrame([(f"SIM{a:05d}", f"SIM{b:05d}") for a, b in NEIGHBOUR_PAIRS], columns=["a", "b"])
    con.register("pairs", pairs)
    con.register("centroids", gazetteer.centroids().astype({"district_code": str}))
    con.execute(f"""
        CREATE TABLE districts AS SELECT 'SIM0000' || i::VARCHAR AS district FROM range(1, 7) t(i);
        CREATE TABLE weeks AS
            SELECT i AS idx, DATE '{START.date()}' + INTERVAL (7 * i) DAY AS week FROM range(0, 20) t(i);
        CREATE TABLE ev AS
            SELECT e.*, date_trunc('week', e.event_date) AS week,
                   e.event_type IN ('Battles', 'Explosions/Remote violence', 'Violence against civilians') AS violent,
                   a1.family AS perpetrator, coalesce(a2.family, 'none') AS target
            FROM raw_events e LEFT JOIN actors a1 ON a1.actor = e.actor1 LEFT JOIN actors a2 ON a2.actor = e.actor2
            WHERE e.district IS NOT NULL AND e.event_date < DATE '{FORECAST.date()}';
        CREATE TABLE panel AS
            SELECT d.district, w.idx, w.week,
                count(e.week) FILTER (WHERE e.violent) AS ve,
                coalesce(sum(e.fatalities) FILTER (WHERE e.violent), 0) AS fat,
                count(e.week) FILTER (WHERE e.violent AND (e.fatalities >= 5
                                      OR e.target IN ('state_forces', 'foreign_forces'))) AS major,
                count(e.week) FILTER (WHERE e.event_type = 'Battles') AS battles,
                coalesce(sum(e.fatalities) FILTER (WHERE e.event_type = 'Explosions/Remote violence'), 0) AS expl_fat,
                count(e.week) FILTER (WHERE e.violent AND e.perpetrator = 'jnim_aq') AS jnim_ev,
                coalesce(sum(e.fatalities) FILTER (WHERE e.violent AND e.perpetrator = 'communal_militia'), 0)
                    AS comm_fat,
                count(e.week) FILTER (WHERE e.violent AND e.perpetrator IN ('other', 'civilians')) AS other_ev,
                count(e.week) FILTER (WHERE e.violent AND e.target IN ('state_forces', 'foreign_forces')) AS sec_ev,
                count(e.week) FILTER (WHERE e.event_type = 'Protests') AS protests
            FROM districts d CROSS JOIN weeks w
            LEFT JOIN ev e ON e.district = d.district AND e.week = w.week
            GROUP BY ALL;
        CREATE TABLE nbr AS
            SELECT p.district, p.idx, sum(q.ve) AS ve, sum(q.major) AS major
            FROM panel p
            JOIN (SELECT a, b FROM pairs UNION ALL SELECT b, a FROM pairs) n ON n.a = p.district
            JOIN panel q ON q.district = n.b AND q.idx = p.idx
            GROUP BY ALL;
        CREATE TABLE kernel AS
            WITH dist AS (
                SELECT c1.district_code AS a, c2.district_code AS b,
                    2 * 6371.0088 * asin(sqrt(
                        pow(sin(radians(c2.latitude - c1.latitude) / 2), 2)
                        + cos(radians(c1.latitude)) * cos(radians(c2.latitude))
                          * pow(sin(radians(c2.longitude - c1.longitude) / 2), 2))) AS km
                FROM centroids c1 CROSS JOIN centroids c2 WHERE c1.district_code <> c2.district_code)
            SELECT p.district, p.idx, sum(q.ve * exp(-dist.km / {KERNEL_SCALE_KM})) AS ve
            FROM panel p JOIN dist ON dist.a = p.district AND dist.km <= {KERNEL_RADIUS_KM}
            JOIN panel q ON q.district = dist.b AND q.idx = p.idx
            GROUP BY ALL;
        CREATE TABLE national AS
            SELECT d.district, p.idx, p.ve, p.fat
            FROM districts d CROSS JOIN (SELECT idx, sum(ve) AS ve, sum(fat) AS fat FROM panel GROUP BY idx) p;
    """)
    yield con
    con.close()


def past_window(table: str, column: str, w: int) -> str:
    return (f"coalesce(sum({column}) OVER (PARTITION BY district ORDER BY idx "
            f"ROWS BETWEEN {w} PRECEDING AND 1 PRECEDING), 0)")


def decayed(table: str, column: str, half_life: float) -> str:
    return f"""(SELECT coalesce(sum(q.{column} * pow(0.5, (t.idx - q.idx - 1) / {half_life})), 0)
                FROM {table} q WHERE q.district = t.district AND q.idx < t.idx)"""


def weeks_since(column: str, cap: int = 104) -> str:
    return f"""least(coalesce(t.idx - (SELECT max(q.idx) FROM panel q
                WHERE q.district = t.district AND q.idx < t.idx AND q.{column} > 0), {cap}), {cap})"""


def future(column: str, h: int) -> str:
    return (f"CASE WHEN idx + {h} <= {N_OBSERVED} THEN sum({column}) OVER (PARTITION BY district ORDER BY idx "
            f"ROWS BETWEEN CURRENT ROW AND {h - 1} FOLLOWING) END")


def oracle(con, table: str, expressions: dict[str, str]) -> pd.DataFrame:
    select = ", ".join(f"{expr} AS {name}" for name, expr in expressions.items())
    return con.execute(f"SELECT t.district, t.idx, {select} FROM {table} t ORDER BY t.district, t.idx").df()


def assert_matches(table, expected: pd.DataFrame) -> None:
    frame = table.frame
    assert len(frame) == len(expected) == 6 * 20
    assert frame["district_code"].tolist() == expected["district"].tolist()
    assert (frame["week_start"] == START + pd.to_timedelta(7 * expected["idx"].to_numpy(), unit="D")).all()
    for name in expected.columns.drop(["district", "idx"]):
        got = frame[name].to_numpy(dtype=np.float64)
        want = expected[name].to_numpy(dtype=np.float64)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, equal_nan=True, err_msg=name)
        assert np.nansum(want) > 0, f"{name}: the oracle is all zero, the test would prove nothing"


def test_the_fixture_families_agree_with_the_registry():
    from features.registries import classify_actors, load_actor_families

    names = pd.Series(list(ACTOR_FAMILY), dtype="string")
    assert classify_actors(names, load_actor_families()).tolist() == list(ACTOR_FAMILY.values())


def test_own_district_windows_decay_and_duration(table, con):
    expected = oracle(con, "panel", {
        "violent_events_sum_w1": past_window("panel", "ve", 1),
        "violent_events_sum_w4": past_window("panel", "ve", 4),
        "violent_events_sum_w13": past_window("panel", "ve", 13),
        "fatalities_sum_w8": past_window("panel", "fat", 8),
        "major_attacks_sum_w13": past_window("panel", "major", 13),
        "violent_events_ewm_hl4": decayed("panel", "ve", 4),
        "fatalities_ewm_hl1": decayed("panel", "fat", 1),
        "weeks_since_violent_events": weeks_since("ve"),
        "weeks_since_major_attacks": weeks_since("major"),
        "violent_events_trend_w4_w52":
            f"ln(({past_window('panel', 've', 4)} / 4 + 0.1) / ({past_window('panel', 've', 52)} / 52 + 0.1))",
        "fatalities_sum_w26": past_window("panel", "fat", 26),
    })
    assert_matches(table, expected)


def test_splits_by_type_perpetrator_and_target(table, con):
    expected = oracle(con, "panel", {
        "battles_sum_w4": past_window("panel", "battles", 4),
        "explosions_fatalities_sum_w13": past_window("panel", "expl_fat", 13),
        "by_jnim_aq_events_sum_w13": past_window("panel", "jnim_ev", 13),
        "by_jnim_aq_events_ewm_hl4": decayed("panel", "jnim_ev", 4),
        "by_communal_militia_fatalities_sum_w52": past_window("panel", "comm_fat", 52),
        "by_other_events_sum_w4": past_window("panel", "other_ev", 4),
        "on_security_forces_events_sum_w13": past_window("panel", "sec_ev", 13),
        "weeks_since_on_security_forces_events": weeks_since("sec_ev"),
    })
    assert_matches(table, expected)


def test_neighbour_kernel_and_national_sums(table, con):
    nbr = oracle(con, "nbr", {
        "nbr_violent_events_sum_w4": past_window("nbr", "ve", 4),
        "nbr_major_attacks_sum_w13": past_window("nbr", "major", 13),
        "nbr_violent_events_ewm_hl13": decayed("nbr", "ve", 13),
    })
    assert_matches(table, nbr)
    kernel = oracle(con, "kernel", {
        "kernel_violent_events_sum_w4": past_window("kernel", "ve", 4),
        "kernel_violent_events_ewm_hl4": decayed("kernel", "ve", 4),
    })
    assert_matches(table, kernel)
    national = oracle(con, "national", {
        "national_violent_events_sum_w4": past_window("national", "ve", 4),
        "national_fatalities_sum_w13": past_window("national", "fat", 13),
    })
    assert_matches(table, national)


def test_targets_count_the_weeks_from_week_start(table, con):
    expected = oracle(con, "panel", {
        "target_violent_events_h1": future("ve", 1),
        "target_violent_events_h4": future("ve", 4),
        "target_fatalities_h4": future("fat", 4),
        "target_major_attack_h4": f"CASE WHEN {future('major', 4)} > 0 THEN 1 WHEN {future('major', 4)} = 0 THEN 0 END",
    })
    assert_matches(table, expected)
    assert table.frame["target_violent_events_h4"].isna().sum() == 6 * 4  # weeks 16..19 are not fully observed
