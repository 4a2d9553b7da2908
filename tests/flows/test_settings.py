from pathlib import Path

from flows.settings import Settings, redact_url


def test_defaults_live_under_home(tmp_path):
    s = Settings(home=tmp_path / "h")
    assert s.event_store == (tmp_path / "h" / "events.duckdb").resolve()
    assert s.tracking_uri == f"sqlite:///{(tmp_path / 'h').resolve() / 'mlflow.db'}"
    assert s.score_store_url.startswith("duckdb:///") and s.score_store_url.endswith("scores.duckdb")


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("VIGIE_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("VIGIE_MAJOR_ATTACK__MIN_FATALITIES", "10")
    monkeypatch.setenv("VIGIE_SCORE_STORE_URL", "postgresql+psycopg://vigie:s3cret@db/vigie")
    s = Settings()
    assert s.home == (tmp_path / "env-home").resolve() and s.major_attack.min_fatalities == 10
    assert s.score_store_url == "postgresql+psycopg://vigie:s3cret@db/vigie"


def test_secrets_in_urls_never_reach_the_loggable_settings():
    s = Settings(score_store_url="postgresql+psycopg://vigie:s3cret@db/vigie", tracking_uri="https://u:tok3n@mlflow:5000")
    text = str(s.public_dict())
    assert "s3cret" not in text and "tok3n" not in text and "vigie:***@db" in text
    assert redact_url("duckdb:////tmp/x.duckdb") == "duckdb:////tmp/x.duckdb"


def test_the_country_defaults_to_the_only_one_and_several_are_chosen(monkeypatch, tmp_path):
    import pytest

    from features.country import CountryError

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "countries"
    assert Settings(home=tmp_path).country_iso3 == "MLI" and Settings(home=tmp_path).country_name == "Mali"
    monkeypatch.setenv("VIGIE_COUNTRIES_DIR", str(fixtures))
    with pytest.raises(CountryError, match=r"several countries are available \(MLI, XAA, XAB\)"):
        Settings(home=tmp_path)
    monkeypatch.setenv("VIGIE_COUNTRIES", "xaa, XAB")
    region = Settings(home=tmp_path)
    assert (region.countries, region.country_iso3, region.country_name) == (("XAA", "XAB"), "XAA", "Arcadia")
    assert [c.name for c in region.members()] == ["Arcadia", "Bellmark"]
    assert Settings(home=tmp_path, country_iso3="xab").country().name == "Bellmark"
    with pytest.raises(CountryError, match="no country NER"):
        Settings(home=tmp_path, countries=("XAA", "NER"))


def test_a_run_sends_no_telemetry_unless_the_environment_asks_for_it(tmp_path):
    """Importing the flows turns MLflow's and Prefect's client telemetry off (no network at run time), in a
    fresh process as a worker or `vigie` starts one; a user's explicit choice is kept."""
    import os
    import subprocess
    import sys

    probe = ("import flows.weekly, mlflow.telemetry as t; from prefect._internal.analytics.enabled import "
             "is_telemetry_enabled as p; print(t.get_telemetry_client() is None, p())")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env = {k: v for k, v in env.items() if k not in ("CI", "PYTEST_CURRENT_TEST", "PYTEST_VERSION")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path,
                         check=True)
    assert out.stdout.split() == ["True", "False"]
    chosen = subprocess.run([sys.executable, "-c", "import flows, os; print(os.environ['DO_NOT_TRACK'])"],
                            env={**env, "DO_NOT_TRACK": "0"}, capture_output=True, text=True, check=True)
    assert chosen.stdout.strip() == "0"
