"""The bad-input corpus (issue 9, item 6): every malformed or hostile file given to the real `vigie ingest --json`
is refused with exit 2 and one JSON line naming the file (and the row and column of a bad cell), and leaves
the event store and the score store exactly as they were; hostile but valid texts (SQL, HTML, spreadsheet
formulas) are stored verbatim and nothing executes.

The cases and the judging live in corpus.py (shared with bench/reliability_inputs.py). They are run once per
module: most in-process through CliRunner, five also as a real subprocess
(``[sys.executable, "-c", "from flows.cli import app; app()", "ingest", FILE, "--home", HOME, "--json"]``).
"""

from __future__ import annotations

import re

import pytest
from corpus import CASES, SUBPROCESS_CASES, problems, run_bad_input_corpus

NAMES = [case.name for case in CASES] + [f"{name} (subprocess)" for name in SUBPROCESS_CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    return run_bad_input_corpus(tmp_path_factory.mktemp("bad_inputs"))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input(corpus: dict, name: str) -> None:
    outcome = corpus["outcomes"][name]
    case, payload, before, after = outcome["case"], outcome["payload"], outcome["before"], outcome["after"]
    assert problems(outcome) == [], outcome["output"]
    # The score store: ingest never opens it.
    assert after["files"]["scores.duckdb"] == before["files"]["scores.duckdb"] is not None
    if case.accepted:
        assert outcome["exit_code"] == 0, outcome["output"]
        assert payload["ok"] is True
        return
    assert outcome["exit_code"] == 2, outcome["output"]
    assert payload["ok"] is False and payload["error_type"] and payload["error"].startswith(outcome["path"])
    if case.row is not None:
        assert re.search(rf", row {case.row}[,:]", payload["error"])
    if case.column is not None:
        assert f"column '{case.column}'" in payload["error"]
    # Both stores as they were: the bytes, and everything read back.
    assert after["files"] == before["files"]
    assert after["events"] == before["events"]


def test_the_corpus_is_large_and_every_bad_input_is_a_clear_error(corpus: dict) -> None:
    assert corpus["bad_inputs_tried"] >= 30
    assert corpus["clear_errors"] == corpus["stores_unchanged"] == corpus["bad_inputs_tried"], corpus["failures"]
    assert corpus["stored_as_written"] == corpus["valid_inputs"], corpus["failures"]


def test_the_base_home_holds_the_good_events(corpus: dict) -> None:
    before = corpus["outcomes"]["header_only"]["before"]["events"]["events"]
    assert sorted((row["source"], row["event_id"]) for row in before) == [
        ("acled", "GOOD1"), ("acled", "GOOD2"), ("acled", "GOOD3"), ("ucdp", "900001"), ("ucdp", "900002")]
    assert all(row["district_code"] for row in before)


def test_injection_strings_leave_the_tables_in_place(corpus: dict) -> None:
    after = corpus["outcomes"]["injection_strings_stored_verbatim (subprocess)"]["after"]["events"]
    assert set(after) >= {"events", "pull_state"}
    assert len(after["events"]) == 5 + 2
