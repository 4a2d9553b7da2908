"""Where the scheduled run takes its data from: given files, else the API, else the drop folder, else simulated."""

from datetime import date

import pytest

from features.gazetteer import Gazetteer
from flows.weekly import _ingest

HEADER = ("event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,actor1,assoc_actor_1,inter1,actor2,"
          "assoc_actor_2,inter2,interaction,region,country,admin1,admin2,admin3,location,latitude,longitude,"
          "geo_precision,source,source_scale,notes,fatalities,timestamp,iso3\n")
ROW = "DROP1,2020-01-06,2020,1,Battles,Armed clash,Group A,,2,Group B,,1,12,Western Africa,Mali,Gao,Gao,,Gao,16.27,-0.04,1,src,National,n,2,1600000000,MLI\n"


@pytest.fixture
def gazetteer():
    return Gazetteer.load("MLI")


def test_drop_folder_is_ingested_when_no_files_and_no_api(vigie_settings, gazetteer, monkeypatch, prefect_harness):
    monkeypatch.delenv("ACLED_USERNAME", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    (vigie_settings.drop_dir / "export.csv").write_text(HEADER + ROW)
    (vigie_settings.drop_dir / "notes.txt").write_text("not an export")
    reports, sources, as_of = _ingest(None, vigie_settings, gazetteer)
    assert sources == ("acled",) and as_of == date.today()
    assert [r.added for r in reports] == [1] and reports[0].source_file.endswith("export.csv")
    again, _, _ = _ingest(None, vigie_settings, gazetteer)
    assert again[0].unchanged == 1 and again[0].added == 0


def test_given_files_win_over_the_drop_folder(vigie_settings, gazetteer, tmp_path, prefect_harness):
    (vigie_settings.drop_dir / "export.csv").write_text(HEADER + ROW)
    given = tmp_path / "given.csv"
    given.write_text(HEADER + ROW.replace("DROP1", "GIVEN1"))
    reports, sources, as_of = _ingest([str(given)], vigie_settings, gazetteer)
    assert [r.source_file for r in reports] == [str(given.resolve())] and as_of is None and sources == ("acled",)


def test_the_scheduled_run_with_no_input_fails_and_never_simulates(vigie_settings, gazetteer, monkeypatch, prefect_harness):
    """A worker that lost its credentials and has an empty drop folder must not publish simulated scores."""
    from features.ingest import NoInput

    monkeypatch.delenv("ACLED_USERNAME", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    with pytest.raises(NoInput, match="never falls back to simulated data"):
        _ingest(None, vigie_settings, gazetteer)
    assert not (vigie_settings.home / "simulated").exists()
    vigie_settings.simulation_weeks = 60
    reports, sources, _ = _ingest(None, vigie_settings, gazetteer, allow_simulated=True)  # `vigie run`'s demonstration
    assert sources == ("simulated",) and reports[0].added > 0
