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
