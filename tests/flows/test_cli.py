"""The `vigie` command on the real ACLED file (read from ../shared, never copied) and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from browser import REPORT_SECTIONS, check_page, chromium
from typer.testing import CliRunner

from flows.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_help_on_every_subcommand():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    for name in commands:
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, name
        assert "--help" in sub.output


def test_ingest_real_acled_twice(acled_file, tmp_path):
    home = tmp_path / "home"
    first = runner.invoke(app, ["ingest", str(acled_file), "--home", str(home), "--json"])
    assert first.exit_code == 0, first.output
    report = _last_json(first.stdout)
    assert report["rows"] == 3990 and report["added"] == 3990
    assert report["assigned_share"] >= 0.995
    unassigned = [ev for f in report["files"] for ev in f["unassigned_events"]]
    assert len(unassigned) == report["unassigned"] and all(ev["unassigned_reason"] for ev in unassigned)
    second = _last_json(runner.invoke(app, ["ingest", str(acled_file), "--home", str(home), "--json"]).output)
    assert second["unchanged"] == 3990 and second["added"] == second["updated"] == 0


def test_ingest_bad_file_names_row_and_column_and_stores_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,actor1,assoc_actor_1,inter1,actor2,"
        "assoc_actor_2,inter2,interaction,region,country,admin1,admin2,admin3,location,latitude,longitude,"
        "geo_precision,source,source_scale,notes,fatalities,timestamp,iso3\n"
        "XX1,2020-01-06,2020,1,Battles,Armed clash,Group A,,2,Group B,,1,12,Western Africa,Mali,Gao,Gao,,Gao,16.27,-0.04,1,src,National,n,2,1600000000,MLI\n"
        "XX2,2020-01-07,2020,1,Battles,Armed clash,Group A,,2,Group B,,1,12,Western Africa,Mali,Gao,Gao,,Gao,16.27,-0.04,1,src,National,n,-3,1600000000,MLI\n"
    )
    home = tmp_path / "home"
    result = runner.invoke(app, ["ingest", str(bad), "--home", str(home), "--json"])
    assert result.exit_code == 2
    payload = _last_json(result.output)
    assert not payload["ok"]
    assert "bad.csv" in payload["error"] and "row 3" in payload["error"] and "fatalities" in payload["error"]
    from features.event_store import EventStore

    assert len(EventStore(home / "events.duckdb").events()) == 0


@pytest.mark.integration
def test_run_real_acled_as_of(acled_file, tmp_path, prefect_harness):
    home = tmp_path / "home"
    result = runner.invoke(app, ["run", "--events", str(acled_file), "--as-of", "2020-06-01", "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    assert summary["week_start"] == "2020-06-01" and summary["districts"] == 50
    assert not summary["is_simulated"]
    mlflow_line = next(line for line in result.stdout.splitlines() if line.startswith("MLflow runs:"))
    assert mlflow_line.endswith(f"ui --backend-store-uri {summary['tracking_uri']}")  # never broken across lines
    from publish.score_store import ScoreStore

    store = ScoreStore(summary["score_store"])
    week = store.latest("MLI")
    assert len(week[week["horizon_weeks"] == 1]) == 50
    assert (week["data_cutoff"].astype(str) == "2020-06-01").all()

    printed = runner.invoke(app, ["scores", "--format", "json", "--home", str(home)])
    assert printed.exit_code == 0, printed.output
    latest = _last_json(printed.stdout)
    assert latest["week_start"] == "2020-06-01" and latest["rows"] == 150
    first = latest["scores"][0]
    assert first["week_start"] == first["data_cutoff"] == "2020-06-01" and first["published_at"].endswith("+00:00")
    assert {r["district_code"] for r in latest["scores"]} == set(week["district_code"])

    # Stale data must not be published as fresh: five months after the last event the freshness gate stops
    # the run, the command fails, and the published week stays exactly as it was.
    # (a real process, as the scheduler runs it)
    stale = subprocess.run([sys.executable, "-c", "from flows.cli import app; app()", "run", "--events", str(acled_file),
                            "--as-of", "2021-01-04", "--retrain", "never", "--home", str(home), "--json"],
                           capture_output=True, text=True, timeout=300)
    assert stale.returncode == 2, stale.stderr[-3000:]
    error = _last_json(stale.stdout)
    assert not error["ok"] and "freshness" in error["error"] and "stale" in error["error"]
    after = store.latest("MLI")
    assert after.sort_values(["district_code", "horizon_weeks"]).reset_index(drop=True).equals(
        week.sort_values(["district_code", "horizon_weeks"]).reset_index(drop=True))
    assert list(store.publications()["week_start"].astype(str)) == ["2020-06-01"]

    # The ACLED champions never score UCDP features: told not to retrain, the shipped UCDP run refuses.
    other = runner.invoke(app, ["run", "--retrain", "never", "--home", str(home), "--json"])
    assert other.exit_code == 2, other.output
    refused = _last_json(other.stdout)
    assert refused["error_type"] == "ChampionRefused" and "acled" in refused["error"] and "ucdp" in refused["error"]
    assert list(store.publications()["week_start"].astype(str)) == ["2020-06-01"]


@pytest.mark.integration
def test_the_default_run_scores_the_shipped_ucdp_events(acled_file, tmp_path, prefect_harness, monkeypatch):
    """`vigie run` with no input publishes real scores from the shipped UCDP GED events, labelled with their
    source and attribution; its champions then refuse ACLED features; too few major attacks refuse training."""
    home = tmp_path / "home"
    result = runner.invoke(app, ["run", "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    assert summary["sources"] == ["ucdp"] and not summary["is_simulated"] and summary["districts"] == 50
    assert summary["week_start"] == "2023-01-02"
    from publish.score_store import ScoreStore

    store = ScoreStore(summary["score_store"])
    week = store.latest("MLI")
    assert len(week) == 150 and (week["event_source"] == "ucdp").all() and not week["is_simulated"].any()
    assert store.publications()["event_source"].tolist() == ["ucdp"]
    report = Path(summary["outputs"]["report"]).read_text()
    assert "ucdp" in report.lower() and "CC BY 4.0" in report and "simulated-banner" not in report
    assert 'id="headline-skill"' in report and "<svg class=\"spark\"" in report and "vs usual" in report
    if chromium() is not None:  # on the shipped real data
        check_page(Path(summary["outputs"]["report"]), (*REPORT_SECTIONS, "forces"), tmp_path)

    acled = runner.invoke(app, ["run", "--events", str(acled_file), "--as-of", "2020-06-01", "--retrain", "never",
                                "--home", str(home), "--json"])
    assert acled.exit_code == 2, acled.output
    refused = _last_json(acled.stdout)
    assert refused["error_type"] == "ChampionRefused" and "ucdp" in refused["error"]
    assert store.publications()["week_start"].astype(str).tolist() == ["2023-01-02"]

    # What-if scenarios write their own table and never touch the published scores.
    published = (store.latest("MLI"), store.publications())
    for name in ("wagner-to-africa-corps-2025", "minusma-drawdown-2023"):
        scenario = runner.invoke(app, ["scenario", str(REPO / "scenarios" / f"{name}.toml"), "--home", str(home),
                                       "--json"])
        assert scenario.exit_code == 0, scenario.output
        told = _last_json(scenario.stdout)
        assert told["scenario_id"] == name and told["week_start"] == "2023-01-02" and told["rows"] == 150
        assert told["districts"] == 50 and told["horizons"] == [1, 4, 13] and all(told["models_see"].values())
        rows = store.scenario(name)
        assert len(rows) == 150 and (rows["event_source"] == "ucdp").all()
        assert (rows["change_lo90"] <= rows["expected_events_change"] + 1e-9).all()
        assert (rows["expected_events_change"].abs() > 1e-6).any()
        page = Path(told["report"]).read_text()
        assert all(f'id="{s}"' in page for s in ("assumptions", "maps", "changes", "evidence")) and "CC BY 4.0" in page
    assert store.latest("MLI").equals(published[0]) and store.publications().equals(published[1])
    wagner = store.scenario("wagner-to-africa-corps-2025")
    menaka = wagner[(wagner["district_name"] == "Menaka") & (wagner["horizon_weeks"] == 4)].iloc[0]
    assert menaka["expected_events_change"] != 0  # Wagner's base there is left empty
    again = runner.invoke(app, ["scenario", str(REPO / "scenarios" / "minusma-drawdown-2023.toml"), "--home",
                                str(home), "--json"])
    assert _last_json(again.stdout)["replaced_rows"] == 150 and len(store.scenario("minusma-drawdown-2023")) == 150
    future = tmp_path / "future.toml"
    future.write_text('id = "late"\ntitle = "Too late"\ndate = "2024-01-01"\n[[change]]\naction = "leave"\n'
                      'force = "MINUSMA"\n')
    late = runner.invoke(app, ["scenario", str(future), "--home", str(home), "--json"])
    assert late.exit_code == 2 and "after the forecast week 2023-01-02" in _last_json(late.stdout)["error"]
    assert store.scenario("late").empty

    evidence = runner.invoke(app, ["withdrawals", "--home", str(home), "--json"])
    assert evidence.exit_code == 0, evidence.output
    found = _last_json(evidence.stdout)
    assert len(found["withdrawals"]) >= 10 and found["sentences"]
    pooled = [e for e in found["effects"] if e["level"] == "pooled" and e["scope"] == "district"]
    assert [e["window_weeks"] for e in pooled] == [4, 13, 26]
    assert all(e["ci_low"] <= e["irr"] <= e["ci_high"] for e in pooled)

    monkeypatch.setenv("VIGIE_TRAINING__MIN_MAJOR_ATTACK_WEEKS", "100000")
    few = runner.invoke(app, ["run", "--retrain", "always", "--home", str(tmp_path / "other"), "--json"])
    assert few.exit_code == 2, few.output
    error = _last_json(few.stdout)
    assert error["error_type"] == "TooFewMajorAttacks" and "UCDP's best estimate" in error["error"]


def test_choices_are_checked_at_parse_time_and_listed_in_help():
    import time

    started = time.monotonic()
    bad = runner.invoke(app, ["run", "--retrain", "sometimes"])
    assert bad.exit_code == 2 and "sometimes" in bad.output and time.monotonic() - started < 5
    assert "auto" in bad.output and "always" in bad.output and "never" in bad.output
    assert runner.invoke(app, ["scores", "--format", "xml"]).exit_code == 2
    assert "table" in runner.invoke(app, ["scores", "--help"]).output


@pytest.mark.integration
def test_a_run_given_two_sources_for_one_country_refuses(acled_file, tmp_path, prefect_harness):
    from features.ingest import shipped_events

    (ucdp,) = shipped_events("MLI")
    result = runner.invoke(app, ["run", "--events", str(acled_file), "--events", str(ucdp), "--home", str(tmp_path / "h"),
                                 "--json"])
    assert result.exit_code == 2, result.output
    error = _last_json(result.stdout)
    assert error["error_type"] == "MixedSources" and "--source acled or --source ucdp" in error["error"]


@pytest.mark.integration
def test_a_regional_run_publishes_each_country_from_one_pooled_panel(tmp_path, prefect_harness, monkeypatch):
    """Arcadia and Bellmark (tests/fixtures/countries), simulated together, scored in one run: one panel with
    neighbours across their border, pooled and per-country candidates in the selection backtest, each country's
    week published in the same tables (ranks within the country) with its own report, and the region's report."""
    monkeypatch.setenv("VIGIE_COUNTRIES_DIR", str(REPO / "tests" / "fixtures" / "countries"))
    monkeypatch.setenv("VIGIE_TRAINING__MIN_MAJOR_ATTACK_WEEKS", "30")
    home, sim = tmp_path / "home", tmp_path / "sim"
    made = runner.invoke(app, ["simulate", "--countries", "XAA,XAB", "--out", str(sim), "--start", "2014-01-06",
                               "--weeks", "365", "--seed", "3", "--json"])
    assert made.exit_code == 0, made.output
    env = {"VIGIE_PANEL_START": "2015-01-05"}
    result = runner.invoke(app, ["run", "--countries", "XAA,XAB", "--events", str(sim / "events.csv"), "--home",
                                 str(home), "--json"], env=env)
    assert result.exit_code == 0, result.output[-3000:]
    summary = _last_json(result.stdout)
    assert (summary["country"], summary["countries"], summary["districts"]) == ("XAA+XAB", ["XAA", "XAB"], 10)
    from publish.score_store import ScoreStore

    store = ScoreStore(summary["score_store"])
    assert store.publications()["country_iso3"].tolist() == ["XAA", "XAB"]
    week = store.latest()
    for iso3, prefix, n in (("XAA", "XA", 6), ("XAB", "XB", 4)):
        mine = week[(week["country_iso3"] == iso3) & (week["horizon_weeks"] == 4)]
        assert len(mine) == n and mine["rank"].min() == 1 and mine["district_code"].str.startswith(prefix).all()
        page = Path(summary["outputs"]["countries"][iso3]["report"]).read_text()
        other = "Glen" if iso3 == "XAA" else "Avel"
        assert mine["district_name"].iloc[0] in page and other not in page
    regional = Path(summary["outputs"]["report"]).read_text()
    assert "Arcadia and Bellmark" in regional and all(n in regional for n in ("Avel", "Glen", "Farrow", "Jasper"))
    assert all(name.startswith("vigie-xaa-xab-") for name in summary["promotions"])

    import mlflow

    client = mlflow.MlflowClient(summary["tracking_uri"])
    run = client.get_run(summary["run_id"])
    models = {r.data.tags["model"]: r.data.metrics for r in client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{summary['run_id']}'")}
    assert any(m.endswith("_per_country") for m in models) and "crps_h4" in models["hawkes_nb"]

    again = runner.invoke(app, ["run", "--countries", "XAA,XAB", "--events", str(sim / "events.csv"), "--home",
                                str(home), "--retrain", "never", "--json"], env=env)
    assert again.exit_code == 0, again.output[-3000:]
    assert _last_json(again.stdout)["rows_replaced"] == 30 and len(store.publications()) == 2


def test_simulate_ends_last_week_by_default_and_never_dates_events_in_the_future(tmp_path):
    from datetime import date

    import pandas as pd

    from features.panel import monday_on_or_before

    made = runner.invoke(app, ["simulate", "--out", str(tmp_path / "sim"), "--districts", "4", "--weeks", "30", "--json"])
    assert made.exit_code == 0, made.output
    events = pd.read_csv(tmp_path / "sim" / "events.csv", usecols=["event_date"])
    assert pd.to_datetime(events["event_date"]).max() < monday_on_or_before(date.today())
    future = runner.invoke(app, ["simulate", "--out", str(tmp_path / "far"), "--districts", "4", "--weeks", "1000",
                                 "--start", "2012-01-02", "--json"])
    assert future.exit_code == 2 and "ingest refuses events dated in the future" in _last_json(future.stdout)["error"]
    assert not (tmp_path / "far").exists()


def test_a_simulated_grid_country_is_a_country_folder_its_events_are_placed_in(tmp_path):
    """`vigie simulate --districts N` writes the synthetic country's folder beside its events: with
    VIGIE_COUNTRIES_DIR pointing there, every command takes --country SIM (bench/scale.py runs it end to end)."""
    made = runner.invoke(app, ["simulate", "--out", str(tmp_path / "sim"), "--districts", "30", "--weeks", "60", "--json"])
    assert made.exit_code == 0, made.output
    assert _last_json(made.stdout)["files"]["country"] == str(tmp_path / "sim" / "countries" / "SIM")
    env = {"VIGIE_COUNTRIES_DIR": str(tmp_path / "sim" / "countries")}
    report = runner.invoke(app, ["ingest", "--country", "SIM", str(tmp_path / "sim" / "events.csv"), "--home",
                                 str(tmp_path / "home"), "--json"], env=env)
    assert report.exit_code == 0, report.output[-3000:]
    ingested = _last_json(report.stdout)
    assert ingested["added"] > 100 and ingested["unassigned"] == 0
