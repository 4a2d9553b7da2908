"""Tests of the weekly export files (Parquet, CSV, GeoJSON) and their atomic writing."""

from __future__ import annotations

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from features.gazetteer import Gazetteer
from publish import exports
from publish.exports import (
    FORMULA_STARTS,
    publication_key,
    scores_geojson,
    simplified_geometries,
    week_dir,
    write_atomically,
    write_week_exports,
)
from publish.schema import SCORE_COLUMNS

WEEK = date(2024, 1, 8)


def make_scores(districts: gpd.GeoDataFrame, risk, *, week: date = WEEK, horizons=(1, 4, 13)) -> pd.DataFrame:
    """Valid score rows: every district x horizon; tier and rank follow ``risk``; some nullable columns null."""
    n = len(districts)
    risk = np.asarray(risk, dtype=float)
    tier = np.asarray(["low", "elevated", "high", "severe"])[np.searchsorted([10, 25, 50], risk, side="right")]
    rank = pd.Series(-risk).rank(method="first").to_numpy(int)
    base = pd.DataFrame({
        "country_iso3": "SIM",
        "district_code": districts["district_code"].to_numpy(),
        "district_name": districts["district_name"].to_numpy(),
        "admin1_name": districts["admin1_name"].to_numpy(),
        "week_start": pd.Timestamp(week),
        "p_any_violence_4w": np.linspace(0.2, 0.9, n),
        "p_major_attack_4w": risk / 100,
        "risk_score": risk,
        "tier": tier,
        "rank": rank,
        "score_change": np.where(np.arange(n) == 0, np.nan, 1.5),
        "driver_1": "+ violent events, last 4 weeks",
        "driver_2": "- population",
        "driver_3": None,
        "driver_1_feature": "violent_events_sum_w4",
        "driver_2_feature": "population",
        "driver_3_feature": None,
    })
    rows = [
        base.assign(horizon_weeks=h, expected_events=0.5 * h, events_lo80=0.0, events_hi80=1.0 * h,
                    events_lo90=0.0, events_hi90=2.0 * h)
        for h in horizons
    ]
    return pd.concat(rows, ignore_index=True).assign(
        data_cutoff=pd.Timestamp(week) - pd.Timedelta(days=1),
        count_model="negbin@3",
        hazard_model="lgbm-hazard@7",
        run_id="run-1",
        published_at=pd.Timestamp("2024-01-08 06:00", tz="UTC"),
        is_simulated=False,
        event_source="acled",
    )[list(SCORE_COLUMNS)]


@pytest.fixture
def districts() -> gpd.GeoDataFrame:
    """A 2x2 grid of square districts."""
    return Gazetteer.synthetic(4).districts


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_write_week_exports_writes_three_readable_files(tmp_path, districts):
    scores = make_scores(districts, [5.0, 30.0, 60.0, 12.0])
    paths = write_week_exports(scores, districts, tmp_path)

    folder = tmp_path / "SIM" / "2024-01-08"
    assert paths == {
        "parquet": folder / "scores.parquet",
        "csv": folder / "scores.csv",
        "geojson": folder / "districts.geojson",
    }
    assert _files(folder) == ["districts.geojson", "scores.csv", "scores.parquet"]

    table = pq.read_table(paths["parquet"])
    assert table.num_rows == 12
    assert table.column_names == list(SCORE_COLUMNS)
    assert str(table.schema.field("week_start").type) == "date32[day]"
    assert table.column("week_start").to_pylist()[0] == WEEK

    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == list(SCORE_COLUMNS)
    assert len(csv) == 12
    assert set(csv["week_start"]) == {"2024-01-08"}
    assert set(csv["data_cutoff"]) == {"2024-01-07"}
    # Sorted by horizon, then rank: the first row is the top district at horizon 1.
    assert csv.loc[0, "horizon_weeks"] == 1 and csv.loc[0, "district_code"] == "SIM00003"

    collection = json.loads(paths["geojson"].read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 4
    props = collection["features"][2]["properties"]
    assert props["district_code"] == "SIM00003"
    assert props["risk_score"] == 60.0 and props["tier"] == "severe" and props["horizon_weeks"] == 4


def test_geojson_properties_dates_nulls_and_missing_districts(districts):
    scores = make_scores(districts.iloc[:3], [5.0, 30.0, 60.0])
    collection = scores_geojson(scores, districts, horizon=4)

    assert [f["id"] for f in collection["features"]] == districts["district_code"].tolist()
    first = collection["features"][0]["properties"]
    assert set(first) == set(SCORE_COLUMNS)
    assert first["week_start"] == "2024-01-08" and first["data_cutoff"] == "2024-01-07"
    assert first["published_at"] == "2024-01-08T06:00:00+00:00"
    assert first["score_change"] is None and first["driver_3"] is None
    assert first["expected_events"] == 2.0  # the 4-week row, not the 1- or 13-week one
    # A district without a score row is still on the map, with its name and null scores.
    unscored = collection["features"][3]["properties"]
    assert unscored["district_name"] == "District 4"
    assert unscored["admin1_name"] == districts["admin1_name"].iloc[3]
    assert unscored["risk_score"] is None and unscored["tier"] is None
    assert collection["features"][0]["geometry"]["type"] == "Polygon"
    json.dumps(collection, allow_nan=False)  # strict JSON: no NaN anywhere

    with pytest.raises(ValueError, match="horizon 2"):
        scores_geojson(scores, districts, horizon=2)


def test_geojson_geometry_is_simplified_modestly():
    circle = shapely.Point(-5.0, 14.0).buffer(1.0, quad_segs=256)  # 1025 vertices
    places = gpd.GeoDataFrame(
        {"district_code": ["C1"], "district_name": ["Round"], "admin1_name": ["R"], "population": [1]},
        geometry=[circle],
        crs="EPSG:4326",
    )
    scores = make_scores(places, [40.0])
    geometry = shapely.geometry.shape(scores_geojson(scores, places)["features"][0]["geometry"])
    assert shapely.get_num_coordinates(geometry) < shapely.get_num_coordinates(circle) / 4
    assert geometry.area == pytest.approx(circle.area, rel=0.01)


def test_simplification_keeps_shared_borders():
    # Two districts sharing a finely zig-zagging border: simplified one by one they would overlap or gap.
    ys = np.linspace(0, 1, 201)
    xs = 0.5 + 0.003 * np.sin(np.arange(201))
    border = list(zip(xs, ys))
    left = shapely.Polygon([(0, 0), *border, (0, 1)])
    right = shapely.Polygon([(1, 0), (1, 1), *border[::-1]])
    simplified = simplified_geometries(np.array([left, right]), 0.01)
    assert shapely.get_num_coordinates(simplified).sum() < shapely.get_num_coordinates([left, right]).sum() / 4
    assert shapely.coverage_is_valid(simplified)
    assert shapely.intersection(simplified[0], simplified[1]).area == pytest.approx(0.0, abs=1e-12)
    assert shapely.union_all(simplified).area == pytest.approx(1.0, abs=1e-9)


def test_rerun_replaces_files_and_leaves_no_temp_files(tmp_path, districts):
    write_week_exports(make_scores(districts, [5.0, 30.0, 60.0, 12.0]), districts, tmp_path)
    paths = write_week_exports(make_scores(districts, [70.0, 1.0, 2.0, 3.0]), districts, tmp_path)

    csv = pd.read_csv(paths["csv"])
    assert len(csv) == 12
    assert csv.loc[0, "district_code"] == "SIM00001" and csv.loc[0, "risk_score"] == 70.0
    assert _files(paths["csv"].parent) == ["districts.geojson", "scores.csv", "scores.parquet"]


def test_failed_write_leaves_previous_export_intact(tmp_path, districts, monkeypatch):
    paths = write_week_exports(make_scores(districts, [5.0, 30.0, 60.0, 12.0]), districts, tmp_path)
    before = {kind: path.read_bytes() for kind, path in paths.items()}

    def half_write_then_fail(frame, handle):
        handle.write(b"country_iso3,district_co")
        raise OSError("disk full")

    monkeypatch.setattr(exports, "_write_csv", half_write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_week_exports(make_scores(districts, [90.0, 91.0, 92.0, 93.0]), districts, tmp_path)

    # Nothing was replaced (not even the Parquet file written before the CSV), and no temp file remains.
    assert {kind: path.read_bytes() for kind, path in paths.items()} == before
    assert _files(paths["csv"].parent) == ["districts.geojson", "scores.csv", "scores.parquet"]


def test_write_atomically_failure_on_first_write_creates_nothing(tmp_path):
    target = tmp_path / "a" / "file.txt"

    def fail(handle):
        handle.write(b"partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_atomically({target: fail})
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_publication_key_and_week_dir(tmp_path, districts):
    scores = make_scores(districts, [5.0, 30.0, 60.0, 12.0])
    assert publication_key(scores) == ("SIM", WEEK)
    two_weeks = pd.concat([scores, make_scores(districts, [1.0, 2.0, 3.0, 4.0], week=date(2024, 1, 15))])
    with pytest.raises(ValueError, match="2 weeks"):
        publication_key(two_weeks)
    assert week_dir(tmp_path, "MLI", pd.Timestamp("2024-01-08")) == tmp_path / "MLI" / "2024-01-08"


def test_a_staged_week_reaches_the_published_folder_only_when_committed(tmp_path, districts):
    out = tmp_path / "exports"
    before = write_week_exports(make_scores(districts, [5.0, 30.0, 60.0, 12.0]), districts, out)
    old = before["csv"].read_bytes()
    staged = exports.stage_week(make_scores(districts, [70.0, 1.0, 2.0, 3.0]), districts, "<p>new</p>", out, "run-2")
    assert staged == exports.staging_root(out, "run-2") and (staged / "SIM" / WEEK.isoformat() / "report.html").exists()
    assert before["csv"].read_bytes() == old and not (before["csv"].parent / "report.html").exists()
    moved = exports.commit_staged(staged, out)
    folder = f"SIM/{WEEK.isoformat()}"
    assert set(moved) == {f"{folder}/{name}" for name in ("scores.parquet", "scores.csv", "districts.geojson",
                                                          "report.html")}
    assert moved[f"{folder}/report.html"].read_text() == "<p>new</p>" and before["csv"].read_bytes() != old
    assert not staged.exists()


def test_a_discarded_stage_leaves_the_published_week_as_it_was(tmp_path, districts):
    out = tmp_path / "exports"
    before = write_week_exports(make_scores(districts, [5.0, 30.0, 60.0, 12.0]), districts, out)
    snapshot = {p: p.read_bytes() for p in before.values()}
    staged = exports.stage_week(make_scores(districts, [70.0, 1.0, 2.0, 3.0]), districts, "<p>x</p>", out, "run-3")
    exports.discard_staged(staged)
    assert {p: p.read_bytes() for p in before.values()} == snapshot and not staged.exists()
    assert _files(before["csv"].parent) == ["districts.geojson", "scores.csv", "scores.parquet"]


def test_the_weekly_selection_tables_and_backtest_tables_live_apart(tmp_path):
    skill = pd.DataFrame({"model": ["hawkes_nb"], "horizon": [1], "score": [0.16], "skill": [0.02]})
    hindcast = pd.DataFrame({"model": ["hawkes_nb"], "origin": pd.to_datetime(["2019-01-07"]), "mean": [0.5]})
    assert exports.read_selection_table(tmp_path, "MLI", "skill") is None
    paths = exports.write_selection_tables({"skill": skill, "hindcast": hindcast}, tmp_path, "MLI")
    assert paths == {"skill": tmp_path / "MLI" / "skill_latest.csv", "hindcast": tmp_path / "MLI" / "hindcast_latest.parquet"}
    pd.testing.assert_frame_equal(exports.read_selection_table(tmp_path, "MLI", "skill"), skill)
    read = exports.read_selection_table(tmp_path, "MLI", "hindcast")
    pd.testing.assert_frame_equal(read, hindcast, check_dtype=False)
    assert exports.read_selection_table(tmp_path, "MLI", "headline") is None
    folder = exports.backtest_dir(tmp_path, "MLI", date(2019, 1, 7), date(2019, 12, 30))
    paths = exports.write_backtest_tables({"skill": skill.assign(skill=0.5), "metrics": skill}, folder, json_too=("metrics",))
    assert set(paths) == {"skill_csv", "metrics_csv", "metrics_json"}
    assert paths["skill_csv"].parent == tmp_path / "MLI" / "backtests" / "2019-01-07_2019-12-30"
    assert json.loads(paths["metrics_json"].read_text())[0]["model"] == "hawkes_nb"
    pd.testing.assert_frame_equal(exports.read_selection_table(tmp_path, "MLI", "skill"), skill)  # untouched


def test_the_csv_export_never_hands_a_spreadsheet_a_formula(tmp_path, districts):
    districts = districts.assign(district_name=["=cmd|' /C calc'!A0", "@SUM(1)", "Gao", "-2+3"])
    scores = make_scores(districts, [5.0, 30.0, 60.0, 12.0])
    paths = write_week_exports(scores, districts, tmp_path)
    text = paths["csv"].read_text()
    cells = [c for line in text.splitlines()[1:] for c in line.split(",")]
    assert not any(c.startswith(FORMULA_STARTS) for c in cells if c)
    csv = pd.read_csv(paths["csv"])
    assert set(csv["driver_1"]) == {"'+ violent events, last 4 weeks"} and set(csv["driver_2"]) == {"'- population"}
    assert "'=cmd|' /C calc'!A0" in set(csv["district_name"]) and "Gao" in set(csv["district_name"])
    assert (csv["risk_score"] >= 0).all()  # numbers stay numbers
    parquet = pd.read_parquet(paths["parquet"])  # the typed exports and the tables keep the text as it is
    assert set(parquet["driver_1"]) == {"+ violent events, last 4 weeks"}


def test_the_withdrawal_study_is_kept_and_read_back_whole(tmp_path):
    from models.withdrawals import WithdrawalEvidence

    effects = pd.DataFrame({"scope": ["district"], "window_weeks": [4], "irr": [1.8]})
    study = pd.DataFrame({"bin": [-1, 0], "irr": [1.0, 1.4]})
    evidence = WithdrawalEvidence(pd.DataFrame({"withdrawal_id": ["x"]}), effects, study, pd.DataFrame(),
                                  ["Violence rose."], ["a note"], pd.DataFrame({"force": ["F"]}),
                                  pd.Timestamp("2020-01-06"), "abc")
    assert exports.read_withdrawal_study(tmp_path, "MLI") is None
    folder = exports.write_withdrawal_study(evidence, tmp_path, "MLI")
    kept = exports.read_withdrawal_study(tmp_path, "MLI")
    pd.testing.assert_frame_equal(kept.effects, effects)
    pd.testing.assert_frame_equal(kept.event_study, study)
    assert kept.hazard_ratios.empty and kept.withdrawals.empty and kept.deployments.empty  # the run adds its own
    assert (kept.sentences, kept.notes, kept.cutoff, kept.key) == (["Violence rose."], ["a note"],
                                                                 pd.Timestamp("2020-01-06"), "abc")
    assert sorted(p.name for p in folder.iterdir()) == ["effects.parquet", "event_study.parquet",
                                                         "hazard_ratios.parquet", "study.json"]
