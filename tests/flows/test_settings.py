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
