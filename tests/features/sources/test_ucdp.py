from pathlib import Path

import pandas as pd
import pytest

from features.schema import EVENT_COLUMNS, SourceFileError
from features.sources.ucdp import normalize_ucdp_frame, read_ucdp_ged

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "ucdp_ged.csv"


def _with_cell(tmp_path: Path, line: int, old: str, new: str) -> Path:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path = tmp_path / "ged.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_ged_mapping() -> None:
    events = read_ucdp_ged(FIXTURE)
    assert list(events.columns) == list(EVENT_COLUMNS)
    rows = events.set_index("event_id")
    assert list(rows.index) == ["900001", "900002", "900003"]
    assert set(events["source"]) == {"ucdp"}
    assert rows[["event_type", "sub_event_type"]].to_dict("index") == {
        "900001": {"event_type": "Battles", "sub_event_type": "State-based conflict"},
        "900002": {"event_type": "Battles", "sub_event_type": "Non-state conflict"},
        "900003": {"event_type": "Violence against civilians", "sub_event_type": "One-sided violence"},
    }
    assert rows.loc["900001", "actor1"] == "Government of Mali"
    assert rows.loc["900003", "actor2"] == "Civilians"
    # date_start, not date_end (900002 spans two days).
    assert rows.loc["900002", "event_date"] == pd.Timestamp("2020-03-04")
    assert rows["fatalities"].to_dict() == {"900001": 5, "900002": 1, "900003": 4}
    assert rows.loc["900001", "admin1"] == "Mopti region"
    assert rows.loc["900003", "admin2"] == "Soum province"
    assert rows.loc["900002", "location"] == "Niono town"
    assert rows["geo_precision"].tolist() == [1, 2, 3]
    assert rows["time_precision"].tolist() == [1, 2, 1]
    assert rows["country_iso3"].tolist() == ["MLI", "MLI", "BFA"]
    assert rows.loc["900001", "notes"] == "Invented headline one"
    assert events["source_timestamp"].isna().all() and events["assoc_actors"].isna().all()


def test_plain_dates_and_numeric_cells_from_a_frame() -> None:
    raw = pd.read_csv(FIXTURE)  # numbers parsed by pandas, not text
    raw["date_start"] = raw["date_start"].str.slice(0, 10)
    events = normalize_ucdp_frame(raw, file="mem")
    pd.testing.assert_frame_equal(events, read_ucdp_ged(FIXTURE))


def test_unknown_violence_type(tmp_path: Path) -> None:
    path = _with_cell(tmp_path, 3, ",Clear,2,902,", ",Clear,4,902,")
    with pytest.raises(SourceFileError) as caught:
        read_ucdp_ged(path)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), 3, "type_of_violence")
    assert "'4'" in caught.value.problem


def test_unknown_country(tmp_path: Path) -> None:
    path = _with_cell(tmp_path, 4, ",Burkina Faso,", ",Upper Volta Republic,")
    with pytest.raises(SourceFileError) as caught:
        read_ucdp_ged(path)
    assert (caught.value.row, caught.value.column) == (4, "country")
    assert "Upper Volta Republic" in caught.value.problem


def test_negative_best_estimate(tmp_path: Path) -> None:
    path = _with_cell(tmp_path, 2, ",0,0,5,6,5,", ",0,0,-5,6,5,")
    with pytest.raises(SourceFileError) as caught:
        read_ucdp_ged(path)
    assert (caught.value.row, caught.value.column) == (2, "fatalities")


def test_missing_column(tmp_path: Path) -> None:
    raw = pd.read_csv(FIXTURE, dtype="string").drop(columns="side_b")
    with pytest.raises(SourceFileError) as caught:
        normalize_ucdp_frame(raw, file="ged.csv")
    assert (caught.value.file, caught.value.row, caught.value.column) == ("ged.csv", None, "side_b")


# ---------------------------------------------------------------- the download-tool export (issue 10, item 2)

TOOL_FIXTURE = FIXTURE.with_name("ucdp_ged_download_tool.csv")
#: File line where each record of TOOL_FIXTURE starts (910002's quoted headline and description span 4 lines).
TOOL_LINES = {"910001": 2, "910002": 3, "910003": 7, "910004": 8, "910005": 9, "910006": 10}
SHARED_UCDP = Path(__file__).resolve().parents[4] / "shared" / "data" / "ucdp" / "mli_ucdp_ged_1990-2022.csv"


def _tool_with_cell(tmp_path: Path, line: int, old: str, new: str) -> Path:
    lines = TOOL_FIXTURE.read_text(encoding="utf-8").split("\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path = tmp_path / "tool.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_download_tool_export_is_read_as_it_comes() -> None:
    # best_est/high_est/low_est, MM/DD/YYYY 00:00:00 dates, a trailing empty field, line breaks in quotes.
    from features.sources.detect import read_events

    events = read_ucdp_ged(TOOL_FIXTURE)
    assert list(events.columns) == list(EVENT_COLUMNS)
    rows = events.set_index("event_id")
    assert list(rows.index) == list(TOOL_LINES)
    assert rows["fatalities"].to_dict() == {"910001": 3, "910002": 6, "910003": 2, "910004": 1, "910005": 4, "910006": 0}
    assert rows.loc["910001", "event_date"] == pd.Timestamp("2021-03-01")
    assert rows.loc["910002", "notes"] == "Invented headline,\nsecond line\nthird line"
    assert rows.loc["910003", "admin1"] == "Mopti region" and pd.isna(rows.loc["910003", "admin2"])
    assert rows["geo_precision"].tolist() == [1, 2, 4, 6, 5, 5]
    pd.testing.assert_frame_equal(read_events(TOOL_FIXTURE), events)


def test_a_multi_day_event_counts_once_on_its_first_day() -> None:
    rows = read_ucdp_ged(TOOL_FIXTURE).set_index("event_id")
    # 910002 runs 2021-03-04 .. 2021-03-20 (date_prec 3): one event, dated date_start, precision kept.
    assert rows.loc["910002", "event_date"] == pd.Timestamp("2021-03-04")
    assert rows.loc["910002", "time_precision"] == 3
    assert (rows.index == "910002").sum() == 1


def test_region_and_country_level_events_are_kept_unassigned_with_a_reason() -> None:
    from features.gazetteer import Gazetteer

    events = read_ucdp_ged(TOOL_FIXTURE)
    placed = pd.concat([events, Gazetteer.load("MLI").assign(events)], axis=1).set_index("event_id")
    assert placed["assignment"].to_dict() == {
        "910001": "point", "910002": "point", "910003": "unassigned", "910004": "unassigned",
        "910005": "name", "910006": "unassigned"}
    assert placed.loc["910003", "unassigned_reason"] == "located only to the region 'Mopti region' (where_prec 4)"
    assert placed.loc["910004", "unassigned_reason"] == "located only to the country 'MLI' (where_prec 6)"
    assert placed.loc["910006", "unassigned_reason"] == "located only to a wider area of the country (where_prec 5, no adm_2)"
    assert placed.loc[["910001", "910002", "910005"], "unassigned_reason"].isna().all()
    # The coordinates are kept in the event table even when they are not used.
    assert placed.loc["910004", ["latitude", "longitude"]].tolist() == [17.0, -4.0]


def test_acled_precision_3_is_still_placed_by_its_point() -> None:
    from features.gazetteer import Gazetteer

    events = read_ucdp_ged(TOOL_FIXTURE)
    as_acled = events.assign(source="acled", geo_precision=pd.array([3] * len(events), dtype="Int8"))
    placed = Gazetteer.load("MLI").assign(as_acled)
    assert (placed["assignment"] == "point").sum() >= 5


def test_errors_name_the_line_where_the_record_starts(tmp_path: Path) -> None:
    # The record of 910003 starts on file line 7, after 910002's four-line record.
    path = _tool_with_cell(tmp_path, 7, "03/08/2021 00:00:00,03/08", "31/08/2021 00:00:00,03/08")
    with pytest.raises(SourceFileError) as caught:
        read_ucdp_ged(path)
    assert (caught.value.row, caught.value.column) == (7, "date_start")
    assert "31/08/2021" in caught.value.problem
    path = _tool_with_cell(tmp_path, 9, ",Clear,1,990,", ",Clear,7,990,")
    with pytest.raises(SourceFileError) as caught:
        read_ucdp_ged(path)
    assert (caught.value.row, caught.value.column) == (9, "type_of_violence")


def test_a_filled_or_missing_trailing_field_is_still_an_error(tmp_path: Path) -> None:
    filled = _tool_with_cell(tmp_path, 8, ",1,1,1,", ",1,1,1,x")  # 910004 fills the trailing field
    # Only some rows have a filled 48th cell: the "extra cells" error, at the first row (line 2) read past the header.
    with pytest.raises(SourceFileError) as caught:
        read_ucdp_ged(filled)
    assert caught.value.row == 2 and "extra cells" in caught.value.problem


@pytest.mark.skipif(not SHARED_UCDP.exists(), reason="../shared/data/ucdp (the real UCDP GED Mali export) is absent")
def test_the_real_shared_ucdp_file_is_stored_and_every_event_accounted_for(tmp_path: Path) -> None:
    from features.event_store import EventStore
    from features.gazetteer import Gazetteer
    from features.ingest import ingest_files

    store = EventStore(tmp_path / "events.duckdb")
    gazetteer = Gazetteer.load("MLI")
    [report] = ingest_files([SHARED_UCDP], gazetteer, store)
    assert report.rows == report.added == 1801
    assert report.assigned + report.unassigned == 1801
    assert len(report.unassigned_events) == report.unassigned
    assert all(event["unassigned_reason"] for event in report.unassigned_events)
    assert all(event["unassigned_reason"].startswith("located only to ") for event in report.unassigned_events)
    [again] = ingest_files([SHARED_UCDP], gazetteer, store)
    assert again.unchanged == 1801 and again.added == again.updated == 0


def test_the_ingest_report_counts_the_unassigned_events_by_reason(tmp_path: Path) -> None:
    from features.event_store import EventStore
    from features.gazetteer import Gazetteer
    from features.ingest import ingest_files

    [report] = ingest_files([TOOL_FIXTURE], Gazetteer.load("MLI"), EventStore(tmp_path / "events.duckdb"))
    assert report.unassigned_by_reason == {
        "located only to the region 'Mopti region' (where_prec 4)": 1,
        "located only to the country 'MLI' (where_prec 6)": 1,
        "located only to a wider area of the country (where_prec 5, no adm_2)": 1}
    assert sum(report.unassigned_by_reason.values()) == report.unassigned == 3
