from pathlib import Path

import pandas as pd
import pytest

from features.schema import SourceFileError
from features.sources.acled_files import read_acled_export
from features.sources.detect import read_events
from features.sources.ucdp import read_ucdp_ged

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"


@pytest.mark.parametrize("name", ["acled_old_hxl.csv", "acled_current.csv", "acled_monadic.csv"])
def test_acled_files_go_to_the_acled_reader(name: str) -> None:
    pd.testing.assert_frame_equal(read_events(FIXTURES / name), read_acled_export(FIXTURES / name))


def test_ucdp_file_goes_to_the_ucdp_reader() -> None:
    events = read_events(FIXTURES / "ucdp_ged.csv")
    pd.testing.assert_frame_equal(events, read_ucdp_ged(FIXTURES / "ucdp_ged.csv"))
    assert set(events["source"]) == {"ucdp"}


def test_xlsx_is_sniffed_by_content(tmp_path: Path) -> None:
    path = tmp_path / "ged_sheet.xlsx"
    pd.read_csv(FIXTURES / "ucdp_ged.csv", dtype="string").to_excel(path, index=False, engine="openpyxl")
    assert list(read_events(path)["event_id"]) == ["900001", "900002", "900003"]


@pytest.mark.parametrize("content", ["name,value\nx,1\n", ""])
def test_unknown_format_says_what_was_expected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "other.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceFileError) as caught:
        read_events(path)
    assert caught.value.file == str(path)
    assert "event_id_cnty" in caught.value.problem and "type_of_violence" in caught.value.problem


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\xfe\xfe")
    with pytest.raises(SourceFileError) as caught:
        read_events(path)
    assert caught.value.file == str(path) and "UTF-8" in caught.value.problem
