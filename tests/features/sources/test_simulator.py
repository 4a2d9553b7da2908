import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse

from features.gazetteer import Gazetteer
from features.registries import (
    assign_deployments,
    load_foreign_force_actors,
    load_foreign_forces,
    load_political_calendar,
    match_foreign_force,
)
from features.schema import ALL_EVENT_TYPES, VIOLENT_EVENT_TYPES
from features.seasonality import RAINY_SEASON_MONTHS
from features.sources.simulated_events import ACLED_OLDER_COLUMNS
from features.sources.simulator import (
    FORCE_ACTOR_NAMES,
    SEASON_TROUGH_DOY,
    SimulationParams,
    place_deployments,
    presence_matrix,
    registry_forces,
    registry_shocks,
    sample_points_in_polygons,
    seasonal_effect,
    shock_effect,
    simulate,
    simulation_weeks,
    spillover_matrix,
    vacuum_matrix,
    write_simulation,
)

HEADER = [
    "data_id", "iso", "event_id_cnty", "event_id_no_cnty", "event_date", "year", "time_precision", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction",
    "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude", "geo_precision",
    "source", "source_scale", "notes", "fatalities", "timestamp", "iso3",
]
NO_FORCES = pd.DataFrame({"district_code": pd.Series(dtype="str"), "kind": pd.Series(dtype="str"),
                          "start": pd.Series(dtype="datetime64[s]"), "end": pd.Series(dtype="datetime64[s]")})
NO_SHOCKS = pd.DataFrame({"date": pd.Series(dtype="datetime64[s]"), "kind": pd.Series(dtype="str")})
# Only the background and the self-excitation: no season, so λ moves only with past counts.
FLAT = dict(rainy_season_effect=0.0, hot_spot_share=0.0, district_sd=0.0, burn_in_weeks=0)


def _districts(n: int = 4) -> gpd.GeoDataFrame:
    """n unit boxes in a row (codes T01..), the last one replaced by a concave L shape."""
    geoms = [shapely.box(float(i), 10.0, i + 1.0, 11.0) for i in range(n)]
    geoms[-1] = shapely.Polygon([(n - 1, 10), (n, 10), (n, 10.2), (n - 0.8, 10.2), (n - 0.8, 11), (n - 1, 11)])
    return gpd.GeoDataFrame({
        "district_code": [f"T{i + 1:02d}" for i in range(n)],
        "district_name": [f"Cercle {chr(65 + i)}" for i in range(n)],
        "admin1_name": ["North" if i < n // 2 else "South" for i in range(n)],
        "population": [100_000 * (i + 1) for i in range(n)],
    }, geometry=geoms, crs="EPSG:4326")


def _neighbours(n: int = 4) -> pd.DataFrame:
    a = [f"T{i + 1:02d}" for i in range(n - 1)]
    b = [f"T{i + 2:02d}" for i in range(n - 1)]
    return pd.DataFrame({"district_code": a + b, "neighbour_code": b + a, "distance_km": 110.0})


def _run(n=4, start=date(2020, 1, 6), end=date(2021, 12, 26), seed=0, forces=NO_FORCES, shocks=NO_SHOCKS, **params):
    return simulate(_districts(n), _neighbours(n), start=start, end=end, seed=seed,
                    params=SimulationParams(**params), forces=forces, shocks=shocks)


def _lam(result) -> np.ndarray:
    """λ as (n_districts, n_weeks); truth is district-major."""
    n_d = result.truth["district_code"].nunique()
    return result.truth["expected_violent_events"].to_numpy().reshape(n_d, -1)


def _counts(result) -> np.ndarray:
    n_d = result.truth["district_code"].nunique()
    return result.truth["violent_events"].to_numpy().reshape(n_d, -1)


# ------------------------------------------------------------------------------------------- export format

def test_columns_are_acled_older_header():
    events = _run().events
    assert list(events.columns) == HEADER
    assert list(ACLED_OLDER_COLUMNS) == HEADER


def test_columns_equal_the_shared_acled_file_header(acled_file):
    header = acled_file.open(encoding="utf-8").readline().strip().split(",")
    assert list(_run().events.columns) == header


def test_values_written_as_acled_writes_them():
    result = _run(base_rate=0.5)
    ev = result.events
    assert len(ev) > 100
    assert ev["event_id_cnty"].str.fullmatch(r"SIM\d{6}").all()
    assert ev["event_id_cnty"].is_unique
    assert (ev["source"] == "Vigie simulator").all()
    assert ev["notes"].str.startswith("SIMULATED:").all()
    assert (ev["iso3"] == "MLI").all() and (ev["country"] == "Mali").all() and (ev["iso"] == 466).all()
    assert ev["event_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    day = pd.to_datetime(ev["event_date"])
    assert (ev["year"] == day.dt.year).all()
    lag_days = (pd.to_datetime(ev["timestamp"], unit="s") - day).dt.total_seconds() / 86400
    assert lag_days.between(1, 11).all()
    admin1 = _districts().set_index("district_name")["admin1_name"]
    assert (ev["admin1"] == ev["admin2"].map(admin1)).all()
    assert set(ev["event_type"]) <= set(ALL_EVENT_TYPES)
    assert set(VIOLENT_EVENT_TYPES) <= set(ev["event_type"])
    both = ev["inter2"] > 0
    low, high = np.minimum(ev["inter1"], ev["inter2"]), np.maximum(ev["inter1"], ev["inter2"])
    assert (ev.loc[both, "interaction"] == (10 * low + high)[both]).all()
    assert (ev.loc[~both, "interaction"] == 10 * ev.loc[~both, "inter1"]).all()
    assert ev["actor2"].isna().equals(ev["inter2"] == 0)
    vac = ev["event_type"] == "Violence against civilians"
    assert (ev.loc[vac, "actor2"] == "Civilians (Mali)").all()


def test_actor_names_follow_their_period():
    ev = _run(start=date(2016, 1, 4), end=date(2022, 12, 25), base_rate=1.0).events
    state = ev["actor1"].str.startswith("Military Forces of Mali")
    assert (ev.loc[state & (ev["event_date"] >= "2021-05-24"), "actor1"] == "Military Forces of Mali (2021-)").all()
    assert (ev.loc[state & (ev["event_date"] < "2020-08-18"), "actor1"] == "Military Forces of Mali (2013-2020)").all()
    jnim = ev["actor1"] == "JNIM: Group for Support of Islam and Muslims"
    assert jnim.any() and (ev.loc[jnim, "event_date"] >= "2017-03-02").all()


def test_fatalities_are_heavy_tailed_and_abductions_kill_nobody():
    ev = _run(n=6, end=date(2025, 12, 28), base_rate=1.0).events
    violent = ev[ev["event_type"].isin(VIOLENT_EVENT_TYPES)]
    assert (violent["fatalities"] >= 0).all()
    assert 0.25 < (violent["fatalities"] == 0).mean() < 0.6
    assert (violent["fatalities"] >= 20).sum() >= 5
    assert (ev.loc[ev["sub_event_type"] == "Abduction/forced disappearance", "fatalities"] == 0).all()
    assert (ev.loc[ev["event_type"].isin(["Protests", "Strategic developments"]), "fatalities"] == 0).all()


# -------------------------------------------------------------------------------------- determinism, I/O

def test_same_seed_gives_identical_export_and_another_seed_differs(tmp_path):
    a, b, c = _run(seed=7), _run(seed=7), _run(seed=8)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pa_, pb = write_simulation(a, tmp_path / "a"), write_simulation(b, tmp_path / "b")
    for key in ("events", "truth", "metadata"):
        assert pa_[key].read_bytes() == pb[key].read_bytes()
    assert not a.truth["violent_events"].equals(c.truth["violent_events"])


def test_district_row_order_does_not_change_the_result():
    districts = _districts()
    shuffled = districts.iloc[[2, 0, 3, 1]]
    kwargs = dict(start=date(2020, 1, 6), end=date(2020, 12, 27), seed=3, forces=NO_FORCES, shocks=NO_SHOCKS)
    pd.testing.assert_frame_equal(simulate(districts, _neighbours(), **kwargs).events,
                                  simulate(shuffled, _neighbours(), **kwargs).events)


def test_inputs_are_not_modified():
    districts, neighbours = _districts(), _neighbours()
    forces = pd.DataFrame({"district_code": ["T01"], "kind": ["peacekeeping"], "start": ["2020-03-02"], "end": [None]})
    copies = (districts.copy(), neighbours.copy(), forces.copy())
    simulate(districts, neighbours, start=date(2020, 1, 6), end=date(2020, 12, 27), forces=forces, shocks=NO_SHOCKS)
    pd.testing.assert_frame_equal(districts, copies[0])
    pd.testing.assert_frame_equal(neighbours, copies[1])
    pd.testing.assert_frame_equal(forces, copies[2])


def test_write_simulation_files(tmp_path):
    result = _run(base_rate=0.5)
    paths = write_simulation(result, tmp_path / "out")
    text = paths["events"].read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == ",".join(HEADER)
    assert len(lines) == len(result.events) + 1
    back = pd.read_csv(paths["events"])
    assert back["notes"].tolist() == result.events["notes"].tolist()
    assert back["event_id_cnty"].tolist() == result.events["event_id_cnty"].tolist()
    np.testing.assert_allclose(back["latitude"], result.events["latitude"])
    np.testing.assert_allclose(back["longitude"], result.events["longitude"])
    first = lines[1].split(",")
    assert len(first[HEADER.index("latitude")].split(".")[1]) == 4  # 4 decimals, like "15.0200"
    truth = pd.read_parquet(paths["truth"])
    assert list(truth.columns) == ["district_code", "week_start", "expected_violent_events", "violent_events"]
    assert truth["violent_events"].sum() == result.truth["violent_events"].sum()
    meta = json.loads(paths["metadata"].read_text())
    assert meta["seed"] == 0 and meta["start"] == "2020-01-06" and meta["end"] == "2021-12-26"
    assert meta["params"]["self_excitation"] == SimulationParams().self_excitation


# ------------------------------------------------------------------------------------ time and the truth

def test_simulation_weeks_are_whole_weeks_from_the_monday():
    weeks = simulation_weeks(date(2020, 1, 8), date(2020, 1, 26))  # Wednesday .. Sunday
    assert list(weeks) == list(pd.to_datetime(["2020-01-06", "2020-01-13", "2020-01-20"]))
    assert len(simulation_weeks(date(2020, 1, 8), date(2020, 1, 25))) == 2  # Saturday: last week unfinished
    with pytest.raises(ValueError):
        simulation_weeks(date(2020, 1, 8), date(2020, 1, 11))


def test_event_dates_fall_in_range_and_in_their_truth_week():
    result = _run(start=date(2020, 1, 8), end=date(2021, 6, 30), base_rate=0.6)
    ev, truth = result.events, result.truth
    day = pd.to_datetime(ev["event_date"])
    assert result.start == date(2020, 1, 6) and result.end == date(2021, 6, 27)
    assert day.min() >= pd.Timestamp("2020-01-06") and day.max() <= pd.Timestamp("2021-06-27")
    assert truth["week_start"].dt.dayofweek.eq(0).all()
    code = ev["admin2"].map(_districts().set_index("district_name")["district_code"])
    week = day - pd.to_timedelta(day.dt.dayofweek, unit="D")
    violent = ev["event_type"].isin(VIOLENT_EVENT_TYPES)
    per_cell = pd.DataFrame({"district_code": code[violent], "week_start": week[violent]}).value_counts()
    joined = truth.set_index(["district_code", "week_start"])["violent_events"]
    assert set(per_cell.index) <= set(joined.index)
    assert per_cell.reindex(joined.index, fill_value=0).to_numpy().tolist() == joined.to_numpy().tolist()
    assert joined.sum() == violent.sum() > 0


def test_mean_realised_counts_match_lambda():
    result = _run(n=10, end=date(2029, 12, 30), seed=11, base_rate=0.3)
    lam, y = _lam(result), _counts(result)
    assert lam.sum() > 5000
    assert y.sum() / lam.sum() == pytest.approx(1.0, abs=0.1)


# ------------------------------------------------------------------------------------------ model effects

def test_self_excitation_raises_lambda_after_events():
    excited = _run(n=4, end=date(2031, 12, 28), seed=5, self_excitation=0.6, spillover=0.1, **FLAT)
    lam, y = _lam(excited), _counts(excited)
    after_event = y[:, :-1] > 0
    for d in range(lam.shape[0]):
        follow = lam[d, 1:]
        assert follow[after_event[d]].mean() > 1.2 * follow[~after_event[d]].mean()
    plain = _run(n=4, end=date(2031, 12, 28), seed=5, self_excitation=0.0, spillover=0.0, **FLAT)
    assert np.allclose(_lam(plain), _lam(plain)[:, :1])  # nothing else moves λ in this setting


def test_spillover_raises_lambda_after_neighbour_events():
    result = _run(n=3, end=date(2031, 12, 28), seed=2, self_excitation=0.0, spillover=0.6, **FLAT)
    lam, y = _lam(result), _counts(result)
    neighbour_event = y[1, :-1] > 0  # district T02 borders T01 and T03
    for d in (0, 2):
        assert lam[d, 1:][neighbour_event].mean() > 1.2 * lam[d, 1:][~neighbour_event].mean()


def test_withdrawal_raises_lambda_for_the_vacuum_weeks():
    forces = pd.DataFrame({"district_code": ["T02"], "kind": ["foreign combat"],
                           "start": [pd.Timestamp("2020-03-04")], "end": [pd.Timestamp("2020-09-30")]})
    params = dict(self_excitation=0.0, spillover=0.0, presence_effect=0.5, vacuum_effect=0.9, vacuum_weeks=13, **FLAT)
    lam = _lam(_run(forces=forces, **params))
    weeks = simulation_weeks(date(2020, 1, 6), date(2021, 12, 26))
    present = (weeks >= "2020-03-02") & (weeks <= "2020-09-28")
    vacuum = (weeks > "2020-09-28") & (weeks <= pd.Timestamp("2020-09-28") + pd.Timedelta(weeks=13))
    base = lam[1, 0]
    assert vacuum.sum() == 13
    np.testing.assert_allclose(lam[1, present], base * np.exp(0.5))
    np.testing.assert_allclose(lam[1, vacuum], base * np.exp(0.9))
    np.testing.assert_allclose(lam[1, ~present & ~vacuum], base)
    np.testing.assert_allclose(lam[0], lam[0, 0])  # no force there


def test_vacuum_matrix_needs_a_real_withdrawal():
    present = np.array([[0, 1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1], [1, 0, 0, 1, 0, 1, 0]], dtype=bool)
    expected = np.array([[0, 0, 0, 1, 1, 0, 0], [0] * 7, [0, 1, 1, 0, 1, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(vacuum_matrix(present, 2), expected)
    assert not vacuum_matrix(present, 0).any()


def test_presence_matrix_picks_latest_deployment_and_skips_unknown_or_other_kinds():
    forces = pd.DataFrame({
        "district_code": ["A", "A", "B", "Z", "B"],
        "kind": ["peacekeeping", "foreign combat", "training", "peacekeeping", "regional"],
        "start": pd.to_datetime(["2020-01-01", "2020-01-15", "2020-01-01", "2020-01-01", "2020-02-03"]),
        "end": pd.to_datetime(["2020-03-01", "2020-01-20", "2020-12-31", "2020-12-31", None]),
    })
    present, force = presence_matrix(forces, np.array(["A", "B"]), np.datetime64("2019-12-30"), 10,
                                     ("peacekeeping", "foreign combat", "regional"))
    # weeks of 2019-12-30 .. 2020-03-02; the peacekeepers leave on Sunday 2020-03-01, the end of week 8
    np.testing.assert_array_equal(force[0], [0, 0, 1, 1, 0, 0, 0, 0, 0, -1])
    np.testing.assert_array_equal(force[1], [-1] * 5 + [4] * 5)  # training ignored, NaT = ongoing
    np.testing.assert_array_equal(present, force >= 0)


def test_rainy_season_lowers_activity():
    weeks = simulation_weeks(date(2020, 1, 6), date(2020, 12, 27)).to_numpy()
    s = seasonal_effect(weeks, 0.4)
    rainy = pd.DatetimeIndex(weeks + np.timedelta64(3, "D")).month.isin([7, 8, 9])
    assert s[rainy].max() < s[~rainy].mean() and s.min() == pytest.approx(-0.4, abs=0.01)
    result = _run(n=6, end=date(2039, 12, 25), seed=4, burn_in_weeks=0)
    truth = result.truth
    in_rain = (truth["week_start"] + pd.Timedelta(days=3)).dt.month.isin([7, 8, 9])
    assert truth.loc[in_rain, "expected_violent_events"].mean() < 0.85 * truth.loc[~in_rain, "expected_violent_events"].mean()
    assert truth.loc[in_rain, "violent_events"].mean() < truth.loc[~in_rain, "violent_events"].mean()


def test_shock_effect_decays_from_the_shock_week():
    s = shock_effect(np.array(["2020-01-15", "2020-01-29"], dtype="datetime64[D]"), np.datetime64("2020-01-06"), 5, 1.0)
    np.testing.assert_allclose(s, [0, 1, 0.5, 1.25, 0.625])


def test_shocks_raise_lambda():
    shocks = pd.DataFrame({"date": [pd.Timestamp("2020-06-10")], "kind": ["coup"]})
    lam = _lam(_run(shocks=shocks, self_excitation=0.0, spillover=0.0, shock_effect=0.7, **FLAT))
    weeks = simulation_weeks(date(2020, 1, 6), date(2021, 12, 26))
    k = int(np.flatnonzero(weeks == "2020-06-08")[0])
    np.testing.assert_allclose(lam[:, k] / lam[:, 0], np.exp(0.7))
    assert np.all(lam[:, k + 1] < lam[:, k]) and np.all(lam[:, k - 1] == lam[:, 0])


def test_no_explosion_over_a_thousand_weeks():
    params = SimulationParams()
    result = _run(n=12, start=date(2000, 1, 3), end=date(2019, 3, 3), seed=9, hot_spot_share=0.2, hot_spot_effect=2.0)
    lam = _lam(result)
    assert lam.shape[1] == 1000 and np.isfinite(lam).all()
    bound = np.exp(result.district_effects["background_log_rate"].max() + params.rainy_season_effect
                   + (params.self_excitation + params.spillover) * np.log1p(params.excitation_cap))
    assert lam.max() <= bound  # the cap's hard ceiling
    windows = lam.reshape(12, 10, 100).mean(axis=(0, 2))  # mean λ in ten consecutive 100-week windows
    assert windows.max() / windows.min() < 1.5  # stationary: no drift, no run-away
    assert 0.67 < lam[:, -250:].mean() / lam[:, :250].mean() < 1.5


def test_params_reject_an_explosive_setting():
    with pytest.raises(ValueError, match="stationarity"):
        SimulationParams(self_excitation=0.7, spillover=0.4)


def test_spillover_matrix_is_row_stochastic_over_known_neighbours():
    nb = pd.DataFrame({"district_code": ["A", "A", "B", "A", "C"], "neighbour_code": ["B", "C", "A", "Z", "C"],
                       "distance_km": [100.0, 200.0, 100.0, 5.0, 1.0]})
    m = spillover_matrix(np.array(["A", "B", "C"]), nb, 100.0)
    assert sparse.issparse(m)
    dense = m.toarray()
    np.testing.assert_allclose(dense.sum(axis=1), [1, 1, 0])  # C only names itself
    np.testing.assert_allclose(dense[0, 1] / dense[0, 2], np.exp(1.0))


# ------------------------------------------------------------------------------------- space and forces

def test_event_coordinates_fall_inside_their_district():
    result = _run(n=5, base_rate=0.8)
    ev = result.events
    geoms = _districts(5).set_index("district_name").geometry
    assert shapely.contains_xy(geoms.loc[ev["admin2"]].to_numpy(), ev["longitude"], ev["latitude"]).all()
    assert (ev["latitude"].round(4) == ev["latitude"]).all()


def test_points_fall_back_to_a_surface_point_for_slivers():
    sliver = shapely.Polygon([(0, 0), (1, 1), (1, 1.00001)])
    lon, lat = sample_points_in_polygons(np.array([sliver, shapely.box(0, 0, 1, 1)]), 3,
                                         np.random.default_rng(0), decimals=8, max_rounds=0)
    surface = shapely.point_on_surface(sliver)
    assert (lon[0] == shapely.get_x(surface)).all() and (lat[0] == shapely.get_y(surface)).all()
    assert np.isfinite(lon[1]).all()
    lon, lat = sample_points_in_polygons(np.array([shapely.box(0, 0, 1, 1)]), 50, np.random.default_rng(0))
    assert len(np.unique(lon)) == 50 and shapely.contains_xy(shapely.box(0, 0, 1, 1), lon, lat).all()


def test_foreign_forces_are_targets_only_where_present():
    forces = pd.DataFrame({"district_code": ["T03"], "kind": ["peacekeeping"], "start": [pd.Timestamp("2020-01-01")],
                           "end": [pd.Timestamp("2020-12-31")], "actor": ["Blue Helmets (Test)"]})
    ev = _run(forces=forces, base_rate=1.5).events
    hit = ev["actor2"] == "Blue Helmets (Test)"
    assert hit.sum() > 5
    assert (ev.loc[hit, "admin2"] == "Cercle C").all() and (ev.loc[hit, "event_date"] <= "2021-01-03").all()
    assert (ev.loc[hit, "inter2"] == 8).all()


def test_default_registries_are_the_shipped_csvs():
    # The simulator holds no copy of the registries: its defaults are the shipped CSVs, read by their loaders.
    shipped = load_foreign_forces(country_iso3="MLI")
    pd.testing.assert_frame_equal(registry_forces("MLI"), shipped[shipped["kind"] != "national army"].reset_index(drop=True))
    calendar, shocks = load_political_calendar(country_iso3="MLI"), registry_shocks("MLI")
    assert shocks["date"].tolist() == calendar["date"].tolist()
    assert shocks["kind"].tolist() == calendar["kind"].tolist()
    assert shocks["date"].is_monotonic_increasing and (shocks["kind"] == "coup").sum() == 3
    assert registry_forces("SIM") is None and registry_shocks("SIM") is None


@pytest.fixture(scope="module")
def mali() -> Gazetteer:
    return Gazetteer.load("MLI")  # ships with the project: a failure to load it fails the test


def _mali_run(mali, forces=None, **params):
    return simulate(mali.districts, mali.neighbours, start=date(2012, 1, 2), end=date(2024, 12, 29), seed=3,
                    params=SimulationParams(**params), forces=forces)


def test_mali_deployments_are_exactly_the_registry_rows(mali):
    registry = load_foreign_forces()
    registry = registry[registry["kind"] != "national army"].reset_index(drop=True)  # the simulated army is everywhere
    result = _mali_run(mali)
    assert len(result.forces) == len(registry) == 48
    pd.testing.assert_frame_equal(result.forces.drop(columns="district_code"), registry)
    placed = assign_deployments(registry, mali.assign)  # what the foreign-force features use
    assert result.forces["district_code"].tolist() == placed["district_code"].tolist()
    assert result.shocks["date"].tolist() == load_political_calendar()["date"].tolist()
    explicit = _mali_run(mali, forces=registry)  # passing the registry frame is the same as the default
    pd.testing.assert_frame_equal(explicit.truth, result.truth)
    pd.testing.assert_frame_equal(explicit.events, result.events)
    # Attacks on the French name the actor as ACLED did on the day (renamed 2017-05-14).
    ev = result.events
    for name, in_era in (("Military Forces of France (2012-2017)", ev["event_date"] < "2017-05-14"),
                         ("Military Forces of France (2017-)", ev["event_date"] >= "2017-05-14")):
        hit = ev["actor2"] == name
        assert hit.any() and in_era[hit].all()


def test_simulated_presence_follows_the_registry_rows(mali):
    """Removing or changing a registry row passed in changes the simulated presence, there and only there."""
    registry = load_foreign_forces()
    row = registry["deployment_id"] == "minusma-goundam"  # the only deployment in Goundam cercle
    code = place_deployments(registry[row], mali.districts, "MLI")["district_code"].item()
    assert (assign_deployments(registry, mali.assign)["district_code"] == code).sum() == 1
    params = dict(self_excitation=0.0, spillover=0.0, presence_effect=0.5, vacuum_effect=0.9, vacuum_weeks=13, **FLAT)
    full, without = _lam(_mali_run(mali, **params)), _lam(_mali_run(mali, registry[~row], **params))
    shorter = registry.copy()
    shorter.loc[row, "end"] = pd.Timestamp("2019-06-30")
    short = _lam(_mali_run(mali, shorter, **params))
    d = int(np.flatnonzero(np.sort(mali.districts["district_code"]) == code)[0])
    others = np.arange(full.shape[0]) != d
    np.testing.assert_array_equal(full[others], without[others])
    np.testing.assert_array_equal(short[others], without[others])
    weeks = simulation_weeks(date(2012, 1, 2), date(2024, 12, 29))
    for lam, last_week in ((full, "2023-12-25"), (short, "2019-06-24")):
        present = (weeks >= "2013-07-01") & (weeks <= last_week)
        vacuum = (weeks > last_week) & (weeks <= pd.Timestamp(last_week) + pd.Timedelta(weeks=13))
        ratio = lam[d] / without[d]
        np.testing.assert_allclose(ratio[present], np.exp(0.5))
        np.testing.assert_allclose(ratio[vacuum], np.exp(0.9))
        np.testing.assert_allclose(ratio[~present & ~vacuum], 1.0)


def test_every_registry_force_has_an_acled_name_the_features_recognise():
    registry = load_foreign_forces()
    registry = registry[registry["kind"] != "national army"]
    assert set(registry["force"]) <= set(FORCE_ACTOR_NAMES)
    names = pd.Series([name for eras in FORCE_ACTOR_NAMES.values() for _, name in eras])
    kinds = [registry.loc[registry["force"] == force, "kind"].iloc[0]
             for force, eras in FORCE_ACTOR_NAMES.items() for _ in eras]
    assert match_foreign_force(names, load_foreign_force_actors())["kind"].tolist() == kinds


def test_synthetic_country_takes_no_deployment_or_its_own():
    grid = Gazetteer.synthetic(9)
    kwargs = {"start": date(2020, 1, 6), "end": date(2021, 12, 26), "seed": 2, "country_name": "Simulania",
              "country_iso3": "SIM", "params": SimulationParams(self_excitation=0.0, spillover=0.0, **FLAT)}
    none = simulate(grid.districts, grid.neighbours, forces=NO_FORCES, shocks=NO_SHOCKS, **kwargs)
    assert none.forces.empty and np.allclose(_lam(none), _lam(none)[:, :1])
    centre = grid.centroids().set_index("district_code").loc["SIM00005"]
    own = pd.DataFrame({"deployment_id": ["blue-5"], "force": ["Blue Helmets"], "kind": ["peacekeeping"],
                        "latitude": [centre["latitude"]], "longitude": [centre["longitude"]],
                        "admin2_hint": ["nowhere"], "start": [pd.Timestamp("2020-06-01")], "end": [pd.NaT]})
    placed = simulate(grid.districts, grid.neighbours, forces=own, shocks=NO_SHOCKS, **kwargs)
    assert placed.forces["district_code"].tolist() == ["SIM00005"]
    ratio = _lam(placed) / _lam(none)
    weeks = simulation_weeks(date(2020, 1, 6), date(2021, 12, 26))
    np.testing.assert_allclose(ratio[4, weeks >= "2020-06-01"], np.exp(SimulationParams().presence_effect))
    np.testing.assert_allclose(ratio[4, weeks < "2020-06-01"], 1.0)
    np.testing.assert_allclose(np.delete(ratio, 4, axis=0), 1.0)


def test_season_trough_is_the_middle_of_the_features_rainy_season():
    assert SEASON_TROUGH_DOY == 228
    trough = pd.Timestamp("2021-01-01") + pd.Timedelta(days=SEASON_TROUGH_DOY - 1)
    assert trough.month == sorted(RAINY_SEASON_MONTHS)[len(RAINY_SEASON_MONTHS) // 2]


def test_registry_deployments_match_the_ocha_pcodes(acled_file, mali):
    boundaries = acled_file.parents[1] / "boundaries" / "mli_adm2_ocha_cod.geojson"
    codes = set(gpd.read_file(boundaries)["admin2Pcod"])
    assert set(place_deployments(load_foreign_forces(), mali.districts, "MLI")["district_code"]) <= codes


def test_other_countries_get_random_forces_and_shocks():
    districts = _districts()
    result = simulate(districts, _neighbours(), start=date(2000, 1, 3), end=date(2019, 12, 29), seed=1,
                      country_name="Burkina Faso", country_iso3="BFA")
    assert len(result.forces) >= 1 and set(result.forces["district_code"]) <= set(districts["district_code"])
    assert len(result.shocks) >= 1
    assert (result.events["iso3"] == "BFA").all() and (result.events["iso"] == 854).all()
    assert (result.events.loc[result.events["event_type"] == "Violence against civilians", "actor2"]
            == "Civilians (Burkina Faso)").all()
    synthetic = simulate(districts, _neighbours(), start=date(2020, 1, 6), end=date(2020, 6, 28),
                         country_name="Simulania", country_iso3="SIM").events
    assert (synthetic["iso"] == 0).all() and (synthetic["region"] == "Unknown").all()
    assert (synthetic["iso3"] == "SIM").all() and (synthetic["country"] == "Simulania").all()


def test_several_countries_at_once_violence_spills_over_the_border():
    """One process over Arcadia and Bellmark (tests/fixtures/countries): each country keeps its name, code and
    army in the export, ids run over the region, and Bellmark's border districts see more violence when the
    cross-border neighbour pairs are there than when they are cut."""
    from features.country import country_roots, load_country
    from features.gazetteer import Gazetteer
    from features.ingest import simulated_country
    from features.sources.simulator import simulate_region

    roots = country_roots(Path(__file__).resolve().parents[2] / "fixtures" / "countries")
    members = [load_country(iso3, roots) for iso3 in ("XAA", "XAB")]
    region = Gazetteer.combine([Gazetteer.load(c.iso3, c.root) for c in members])
    countries = {c.iso3: simulated_country(c) for c in members}

    def run(neighbours):
        return simulate_region(region.districts, neighbours, countries, start=date(2012, 1, 2), end=date(2016, 12, 25),
                               seed=11, district_countries=region.district_countries)

    joined = run(region.neighbours)
    events = joined.events
    assert set(zip(events["iso3"], events["country"], strict=True)) == {("XAA", "Arcadia"), ("XAB", "Bellmark")}
    assert events["event_id_cnty"].is_unique and joined.country_iso3 == "XAA+XAB"
    armies = events.loc[events["actor1"].str.startswith("Military Forces of", na=False)].groupby("iso3")["actor1"]
    assert armies.unique().map(set).to_dict() == {"XAA": {"Military Forces of Arcadia"},
                                                  "XAB": {"Military Forces of Bellmark"}}
    cross = region.country_of(region.neighbours["district_code"]).to_numpy() != region.country_of(
        region.neighbours["neighbour_code"]).to_numpy()
    cut = run(region.neighbours[~cross])
    border = ["XB01", "XB03"]

    def expected(result):
        truth = result.truth
        return truth.loc[truth["district_code"].isin(border), "expected_violent_events"].sum()

    assert expected(joined) > 1.05 * expected(cut)  # 4.87 against 4.45 expected events over five years (seed 11)
