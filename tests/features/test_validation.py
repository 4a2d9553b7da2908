from pathlib import Path

import pandas as pd
import pytest

from features.schema import SourceFileError, conform
from features.sources.acled_files import read_acled_export
from features.validation import events_schema, validate_events

HEADER = "event_id_cnty,event_date,event_type,actor1,actor2,country,iso3,latitude,longitude,fatalities"
GOOD = "TST0,2020-07-30,Battles,A,B,Mali,MLI,14.0,-3.0,0"


def _events(**overrides: list) -> pd.DataFrame:
    columns = {
        "event_id": ["E1", "E2", "E3"],
        "source": ["acled", "acled", "ucdp"],
        "event_date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
        "country_iso3": ["MLI", "MLI", "NER"],
        "latitude": [14.0, 15.0, None],
        "longitude": [-3.0, -4.0, None],
        "event_type": ["Battles", "Riots", "Violence against civilians"],
        "fatalities": [0, 2, 1],
    }
    return conform(pd.DataFrame(columns | overrides))


def _read_with_row(tmp_path: Path, row: str) -> SourceFileError:
    path = tmp_path / "events.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n{row}\n", encoding="utf-8")
    with pytest.raises(SourceFileError) as caught:
        read_acled_export(path)
    assert caught.value.file == str(path)
    return caught.value


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ("TST1,1985-05-01,Battles,A,B,Mali,MLI,14.1,-3.2,1", "event_date", "1989-01-01"),
        ("TST1,2999-05-01,Battles,A,B,Mali,MLI,14.1,-3.2,1", "event_date", "future"),
        ("TST1,2020-07-31,Battles,A,B,Mali,MLI,14.1,-3.2,-4", "fatalities", ">= 0"),
        ("TST1,2020-07-31,Battles,A,B,Mali,MLI,123,-3.2,1", "latitude", "123"),
        ("TST1,2020-07-31,Battles,A,B,Mali,MLI,14.1,-190,1", "longitude", "-190"),
        ("TST1,2020-07-31,Skirmish,A,B,Mali,MLI,14.1,-3.2,1", "event_type", "'Skirmish'"),
        ("TST1,2020-07-31,Battles,A,B,Mali,ML1,14.1,-3.2,1", "country_iso3", "three capital letters"),
    ],
)
def test_rule_breaking_row_names_file_row_column(tmp_path: Path, row: str, column: str, words: str) -> None:
    error = _read_with_row(tmp_path, row)
    assert (error.row, error.column) == (3, column)
    assert words in str(error)
    assert "more problems" not in str(error)


def test_duplicate_event_id_names_both_rows(tmp_path: Path) -> None:
    error = _read_with_row(tmp_path, GOOD.replace("2020-07-30", "2020-07-31"))
    assert (error.row, error.column) == (2, "event_id")
    assert "'TST0'" in error.problem and "rows 2 and 3" in error.problem


def test_valid_frame_is_returned_unchanged() -> None:
    events = _events()
    pd.testing.assert_frame_equal(validate_events(events, file="mem"), _events())


def test_first_problem_in_file_order_with_count_of_the_rest() -> None:
    events = _events(fatalities=[0, -1, -2], latitude=[95.0, 15.0, None])
    with pytest.raises(SourceFileError) as caught:
        validate_events(events, file="f.csv", line_numbers=pd.Series([10, 12, 15]))
    error = caught.value
    assert (error.file, error.row, error.column) == ("f.csv", 10, "latitude")
    assert str(error).endswith("(and 2 more problems)")


def test_default_line_numbers_assume_one_header_line() -> None:
    with pytest.raises(SourceFileError) as caught:
        validate_events(_events(event_type=["Battles", "Riots", "Party"]), file="f.csv")
    assert (caught.value.row, caught.value.column) == (4, "event_type")


def test_null_required_value() -> None:
    with pytest.raises(SourceFileError) as caught:
        validate_events(_events(event_id=["E1", None, "E3"]), file="f.csv")
    assert (caught.value.row, caught.value.column) == (3, "event_id")
    assert "empty" in caught.value.problem


def test_same_id_in_two_sources_is_allowed() -> None:
    validate_events(_events(event_id=["E1", "E2", "E1"]), file="f.csv")


def test_unknown_source() -> None:
    with pytest.raises(SourceFileError) as caught:
        validate_events(_events(source=["acled", "gdelt", "ucdp"]), file="f.csv")
    assert (caught.value.row, caught.value.column) == (3, "source")
    assert "'gdelt'" in caught.value.problem


def test_table_wide_problems_come_first() -> None:
    events = _events(fatalities=[0, -1, 0]).drop(columns="notes")
    with pytest.raises(SourceFileError) as caught:
        validate_events(events, file="f.csv")
    assert (caught.value.row, caught.value.column) == (None, "notes")
    assert "missing required column 'notes'" in str(caught.value)
    assert "(and 1 more problems)" in str(caught.value)


def test_wrong_dtype_is_reported() -> None:
    events = _events().assign(fatalities=lambda f: f["fatalities"].astype("float64"))
    with pytest.raises(SourceFileError) as caught:
        validate_events(events, file="f.csv")
    assert (caught.value.row, caught.value.column) == (None, "fatalities")
    assert "Int64" in caught.value.problem


def test_future_is_relative_to_today() -> None:
    events = _events(event_date=pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05"]))
    assert events_schema(today=pd.Timestamp("2020-01-05")).validate(events) is not None
    with pytest.raises(Exception, match="future"):
        events_schema(today=pd.Timestamp("2020-01-04")).validate(events)
