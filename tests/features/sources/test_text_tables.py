"""Tests of features.sources.text_tables.delimiter_hint and its wording in the event-file error."""

from pathlib import Path

import pytest

from features.schema import SourceFileError
from features.sources.detect import read_events
from features.sources.text_tables import delimiter_hint


@pytest.mark.parametrize(
    ("columns", "shown"),
    [(["event_id_cnty;event_date"], "';'"), (["a\tb\tc"], "a tab"), (["a|b"], "'|'"), (["a;b\tc"], "';'")],
)
def test_one_column_holding_another_delimiter_names_it(columns, shown):
    assert delimiter_hint(columns) == (f"the header is one cell holding {shown}: the file is separated by {shown}, "
                                       "but Vigie reads comma-separated files")


@pytest.mark.parametrize("columns", [[], ["alias"], ["a;b", "c"], ["alias", "district_code", "note"]])
def test_no_hint_without_a_single_column_holding_a_delimiter(columns):
    assert delimiter_hint(columns) is None


@pytest.mark.parametrize(("separator", "shown"), [(";", "';'"), ("\t", "a tab")])
def test_event_file_error_keeps_its_wording(tmp_path: Path, separator: str, shown: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(separator.join(["event_id_cnty", "event_date", "event_type"]) + "\nX1" + separator + "2020-01-01"
                    + separator + "Battles\n", encoding="utf-8")
    with pytest.raises(SourceFileError) as caught:
        read_events(path)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), 1, None)
    assert caught.value.problem == (
        f"the header is one cell holding {shown}: the file is separated by {shown}, but Vigie reads "
        "comma-separated files; expected an ACLED export (header with event_id_cnty, event_date, event_type) "
        "or a UCDP GED file (header with id, type_of_violence, date_start, best or best_est)"
    )
