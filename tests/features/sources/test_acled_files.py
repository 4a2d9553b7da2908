from pathlib import Path

import pandas as pd
import pytest

from features.schema import EVENT_COLUMNS, SourceFileError, event_dtypes
from features.sources.acled_files import normalize_acled_frame, read_acled_export

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"
SHARED_ACLED = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "acled" / "mli_acled_1997-01-01_2020-07-31.csv"
)


def _by_id(events: pd.DataFrame) -> pd.DataFrame:
    return events.set_index("event_id")


def _assert_normalized(events: pd.DataFrame) -> None:
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert {name: str(dtype) for name, dtype in events.dtypes.items()} == {
        name: str(pd.Series(dtype=dtype).dtype) for name, dtype in event_dtypes().items()
    }


def _write_lines(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_old_schema_with_hxl_row() -> None:
    events = read_acled_export(FIXTURES / "acled_old_hxl.csv")
    _assert_normalized(events)
    assert list(events["event_id"]) == ["TST101", "TST102", "TST103"]
    rows = _by_id(events)
    assert rows.loc["TST101", "event_date"] == pd.Timestamp("2020-06-02")
    assert rows.loc["TST101", "actor2"] == "Military Forces of Mali (2013-)"
    assert rows.loc["TST101", "assoc_actors"] == "Police Forces of Mali (2013-)"
    assert rows.loc["TST101", "source_timestamp"] == pd.Timestamp(1593000000, unit="s", tz="UTC")
    assert rows.loc["TST101", "interaction"] == "14"
    assert rows.loc["TST101", "fatalities"] == 3
    assert rows.loc["TST102", "assoc_actors"] == "Militia B (Mali); Militia C (Mali); Farmers (Mali)"
    assert rows.loc["TST102", "time_precision"] == 2
    assert pd.isna(rows.loc["TST102", "notes"])
    assert rows.loc["TST103", "country_iso3"] == "BFA"
    assert pd.isna(rows.loc["TST103", "actor2"]) and pd.isna(rows.loc["TST103", "assoc_actors"])
    assert rows.loc["TST103", "notes"] == 'Invented protest, with a "quoted" word.'


def test_simulator_marker_sets_source_simulated() -> None:
    rows = _by_id(read_acled_export(FIXTURES / "acled_old_hxl.csv"))
    assert rows["source"].to_dict() == {"TST101": "acled", "TST102": "simulated", "TST103": "acled"}


def test_error_rows_count_the_hxl_line(tmp_path: Path) -> None:
    text = (FIXTURES / "acled_old_hxl.csv").read_text(encoding="utf-8").replace("14.6500", "north")
    with pytest.raises(SourceFileError) as caught:
        read_acled_export(_write_lines(tmp_path, "hxl_bad.csv", text))
    assert (caught.value.row, caught.value.column) == (4, "latitude")
    assert "'north'" in str(caught.value)


def test_current_schema_with_bom_spelled_dates_and_iso_timestamp() -> None:
    assert (FIXTURES / "acled_current.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    events = read_acled_export(FIXTURES / "acled_current.csv")
    _assert_normalized(events)
    rows = _by_id(events)
    assert rows["event_date"].to_dict() == {
        "TST201": pd.Timestamp("2023-07-31"),
        "TST202": pd.Timestamp("2023-08-01"),
        "TST203": pd.Timestamp("2023-08-01"),
    }
    # No iso3 column in the current schema: codes come from the country names.
    assert rows["country_iso3"].to_dict() == {"TST201": "MLI", "TST202": "NER", "TST203": "MLI"}
    assert rows.loc["TST202", "source_timestamp"] == pd.Timestamp("2023-08-03 10:15:00", tz="UTC")
    assert rows.loc["TST201", "event_type"] == "Explosions/Remote violence"


def test_monadic_export_folds_three_actor_event() -> None:
    events = read_acled_export(FIXTURES / "acled_monadic.csv")
    _assert_normalized(events)
    assert list(events["event_id"]) == ["TST301", "TST302", "TST303"]
    rows = _by_id(events)
    assert rows.loc["TST301", "actor1"] == "Militia A (Mali)"
    assert rows.loc["TST301", "actor2"] == "Military Forces of Mali (2021-)"
    # Third actor and every associated actor, in row order, the repeated "Militia D (Mali)" once.
    assert rows.loc["TST301", "assoc_actors"] == "Militia D (Mali); Wagner Group; Militia E (Mali); Militia F (Mali)"
    assert rows.loc["TST301", "fatalities"] == 7  # counted once, not once per actor row
    assert pd.isna(rows.loc["TST302", "actor2"]) and pd.isna(rows.loc["TST302", "assoc_actors"])
    assert rows.loc["TST303", "actor2"] == "Civilians (Mali)"
    assert rows.loc["TST303", "assoc_actors"] == "Fulani Ethnic Group (Mali)"
    assert events["fatalities"].sum() == 9


def test_monadic_rows_that_disagree_are_an_error(tmp_path: Path) -> None:
    lines = (FIXTURES / "acled_monadic.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("Invented three-sided clash.,7,", "Invented three-sided clash.,8,")
    with pytest.raises(SourceFileError) as caught:
        read_acled_export(_write_lines(tmp_path, "monadic_bad.csv", "\n".join(lines) + "\n"))
    assert (caught.value.row, caught.value.column) == (4, "fatalities")
    assert "TST301" in caught.value.problem and "row 2" in caught.value.problem


def test_api_records_including_the_monadic_option() -> None:
    # Shaped like ACLED API JSON: numbers as numbers or text, "" for empty fields, numeric iso only.
    dyadic = [
        {"event_id_cnty": "TST401", "event_date": "2024-05-02", "time_precision": "1", "event_type": "Battles",
         "sub_event_type": "Armed clash", "actor1": "Militia A (Mali)", "assoc_actor_1": "", "actor2": "Militia B (Mali)",
         "assoc_actor_2": "Militia C (Mali)", "interaction": 44, "iso": 466, "country": "Mali", "admin1": "Mopti",
         "admin2": "Djenne", "location": "Djenne", "latitude": "13.9060", "longitude": -4.5530, "geo_precision": 1,
         "source": "Test Radio", "notes": "Invented.", "fatalities": "2", "timestamp": 1714700000},
    ]
    events = normalize_acled_frame(pd.DataFrame(dyadic), file="acled-api page 1", first_line=1)
    _assert_normalized(events)
    row = events.iloc[0]
    assert (row["actor2"], row["assoc_actors"], row["interaction"]) == ("Militia B (Mali)", "Militia C (Mali)", "44")
    assert (row["latitude"], row["longitude"], row["fatalities"]) == (13.906, -4.553, 2)

    monadic = [dict(dyadic[0], actor1=actor, assoc_actor_1=assoc) for actor, assoc in
               [("Militia A (Mali)", ""), ("Militia B (Mali)", "Militia C (Mali)")]]
    for record in monadic:
        del record["actor2"], record["assoc_actor_2"]
    folded = normalize_acled_frame(pd.DataFrame(monadic), file="acled-api page 2", first_line=1)
    pd.testing.assert_frame_equal(folded, events)


def test_xlsx_export_matches_csv(tmp_path: Path) -> None:
    csv_events = read_acled_export(FIXTURES / "acled_current.csv")
    sheet = pd.read_csv(FIXTURES / "acled_current.csv", encoding="utf-8-sig")
    # As a spreadsheet holds them: real date cells and numeric cells.
    sheet["event_date"] = pd.to_datetime(sheet["event_date"], format="mixed")
    path = tmp_path / "export.xlsx"
    sheet.to_excel(path, index=False, engine="openpyxl")
    pd.testing.assert_frame_equal(read_acled_export(path), csv_events)


HEADER = "event_id_cnty,event_date,event_type,actor1,actor2,country,latitude,longitude,fatalities"


@pytest.mark.parametrize(
    ("row", "column", "shown"),
    [
        ("TST1,31 Juli 2020,Battles,A,B,Mali,14.1,-3.2,1", "event_date", "'31 Juli 2020'"),
        ("TST1,2020-07-31,Battles,A,B,Mali,14.1,-3.2,two", "fatalities", "'two'"),
        ("TST1,2020-07-31,Battles,A,B,Mali,14.1,-3.2,1.5", "fatalities", "'1.5'"),
        ("TST1,2020-07-31,Battles,A,B,Mali,,-3.2x,1", "longitude", "'-3.2x'"),
        ("TST1,2020-07-31,Battles,A,B,Atlantis,14.1,-3.2,1", "country", "'Atlantis'"),
        ("TST1,,Battles,A,B,Mali,14.1,-3.2,1", "event_date", "empty"),
    ],
)
def test_unreadable_cell_names_file_row_column(tmp_path: Path, row: str, column: str, shown: str) -> None:
    good = "TST0,2020-07-30,Battles,A,B,Mali,14.0,-3.0,0"
    path = _write_lines(tmp_path, "bad.csv", f"{HEADER}\n{good}\n{row}\n")
    with pytest.raises(SourceFileError) as caught:
        read_acled_export(path)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), 3, column)
    assert shown in str(caught.value)


def test_missing_required_column(tmp_path: Path) -> None:
    path = _write_lines(tmp_path, "nofat.csv", HEADER.replace(",fatalities", "") + "\nTST1,2020-07-31,Battles,A,B,Mali,14.1,-3.2\n")
    with pytest.raises(SourceFileError) as caught:
        read_acled_export(path)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), None, "fatalities")
    assert "missing required column" in str(caught.value)


def test_duplicate_event_id_in_dyadic_file_names_both_rows(tmp_path: Path) -> None:
    rows = ["TST1,2020-07-29,Battles,A,B,Mali,14.1,-3.2,1", "TST2,2020-07-30,Riots,A,,Mali,14.1,-3.2,0",
            "TST1,2020-07-31,Battles,A,B,Mali,14.1,-3.2,2"]
    path = _write_lines(tmp_path, "dup.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(SourceFileError) as caught:
        read_acled_export(path)
    assert (caught.value.row, caught.value.column) == (2, "event_id")
    assert "'TST1'" in caught.value.problem and "rows 2 and 4" in caught.value.problem


def test_uppercase_headers_of_old_exports(tmp_path: Path) -> None:
    path = _write_lines(tmp_path, "upper.csv", HEADER.upper() + "\nTST1,2020-07-31,Battles,A,B,Mali,14.1,-3.2,1\n")
    assert read_acled_export(path)["event_id"].tolist() == ["TST1"]


def test_input_frame_is_not_mutated() -> None:
    raw = pd.read_csv(FIXTURES / "acled_old_hxl.csv", dtype="string")
    before = raw.copy()
    normalize_acled_frame(raw, file="mem")
    pd.testing.assert_frame_equal(raw, before)


def test_real_shared_acled_file() -> None:
    if not SHARED_ACLED.exists():
        pytest.skip(f"shared ACLED file not found at {SHARED_ACLED}")
    events = read_acled_export(SHARED_ACLED)
    _assert_normalized(events)
    assert len(events) == 3990
    assert events["event_id"].is_unique
    assert events["event_date"].min() == pd.Timestamp("1997-01-06")
    assert events["event_date"].max() == pd.Timestamp("2020-07-31")
    assert events["fatalities"].sum() == 9660
    assert set(events["country_iso3"]) == {"MLI"} and set(events["source"]) == {"acled"}
