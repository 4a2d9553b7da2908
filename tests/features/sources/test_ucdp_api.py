"""The UCDP GED API client on recorded answers (tests/fixtures/ucdp_api): no network."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.schema import SourceFileError
from features.sources.ucdp import read_ucdp_ged
from features.sources.ucdp_api import (
    TOKEN_HEADER,
    UcdpApiError,
    UcdpClient,
    UcdpCredentials,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ucdp_api"
TOKEN = "tok-SECRET-123"


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def client(handler, **kw) -> UcdpClient:
    return UcdpClient(UcdpCredentials(TOKEN), transport=httpx.MockTransport(handler), page_size=2,
                      sleep=kw.pop("sleep", lambda s: None), **kw)


def paging(seen: list):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=recorded(f"gedevents_mali_page{request.url.params['page']}.json"))
    return handler


def test_pages_through_with_the_token_header_and_filters():
    seen: list[httpx.Request] = []
    with client(paging(seen)) as c:
        events = c.fetch_events("MLI", date(2021, 1, 1), date(2021, 12, 31))
    assert [r.url.params["page"] for r in seen] == ["0", "1"]
    first = seen[0]
    assert first.url.path == "/api/gedevents/25.1" and first.headers[TOKEN_HEADER] == TOKEN
    assert dict(first.url.params) == {"pagesize": "2", "Country": "432", "StartDate": "2021-01-01",
                                      "EndDate": "2021-12-31", "page": "0"}
    assert TOKEN not in str(first.url)
    assert events["event_id"].tolist() == ["900001", "900002", "900003"]
    assert (events["source"] == "ucdp").all() and events["fatalities"].tolist() == [7, 3, 12]
    assert events["event_date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-05", "2021-03-08", "2021-04-02"]


def test_the_api_gives_the_same_events_as_the_csv(tmp_path):
    """Oracle: the recorded records written as UCDP's own CSV and read by the CSV parser."""
    with client(paging([])) as c:
        from_api = c.fetch_events("MLI", date(2021, 1, 1), date(2021, 12, 31))
    records = recorded("gedevents_mali_page0.json")["Result"] + recorded("gedevents_mali_page1.json")["Result"]
    frame = pd.DataFrame(records)
    for column in ("date_start", "date_end", "source_date"):
        frame[column] = frame[column].str.replace("T", " ")
    frame.to_csv(tmp_path / "ged.csv", index=False)
    pd.testing.assert_frame_equal(from_api, read_ucdp_ged(tmp_path / "ged.csv"))


def test_an_empty_result_is_an_empty_event_table():
    with client(lambda r: httpx.Response(200, json=recorded("gedevents_empty.json"))) as c:
        assert c.fetch_events("MLI", date(2030, 1, 1), date(2030, 1, 31)).empty


def test_a_refused_token_is_a_clear_error_without_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    with client(lambda r: httpx.Response(401, json=recorded("unauthorized.json"))) as c:
        with pytest.raises(UcdpApiError) as info:
            c.fetch_events("MLI", date(2021, 1, 1), date(2021, 12, 31))
    assert info.value.status_code == 401 and "UCDP_ACCESS_TOKEN" in str(info.value)
    shown = str(info.value) + repr(c) + repr(UcdpCredentials(TOKEN)) + caplog.text
    assert TOKEN not in shown


def test_rate_limit_waits_retry_after_then_succeeds():
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=recorded("gedevents_empty.json"))]
    waits: list[float] = []
    with client(lambda r: answers.pop(0), sleep=waits.append) as c:
        assert c.fetch_records("MLI", date(2021, 1, 1), date(2021, 1, 31)) == []
    assert waits == [7.0]


def test_server_errors_are_retried_then_reported():
    calls: list[int] = []

    def failing(request):
        calls.append(1)
        return httpx.Response(503)

    with client(failing) as c, pytest.raises(UcdpApiError, match="HTTP 503 after 4 attempts"):
        c.fetch_records("MLI", date(2021, 1, 1), date(2021, 1, 31))
    assert len(calls) == 4


def test_a_malformed_record_names_the_record_and_field():
    page = recorded("gedevents_mali_page0.json") | {"TotalPages": 1}
    page["Result"][1]["best"] = "many"
    with client(lambda r: httpx.Response(200, json=page)) as c, pytest.raises(SourceFileError) as info:
        c.fetch_events("MLI", date(2021, 1, 1), date(2021, 12, 31))
    assert "UCDP API gedevents 25.1 record" in str(info.value) and "best" in str(info.value)
    assert "record, row 2, column 'best'" in str(info.value)


def test_credentials_come_from_the_environment():
    assert UcdpCredentials.from_env({}) is None
    assert UcdpCredentials.from_env({"UCDP_ACCESS_TOKEN": " abc "}).token == "abc"


def test_an_unknown_country_is_refused_before_any_request():
    with client(lambda r: pytest.fail("no request expected")) as c, pytest.raises(UcdpApiError, match="Gleditsch"):
        c.fetch_records("XXX", date(2021, 1, 1), date(2021, 1, 31))


def test_a_pull_is_stored_like_a_file_and_a_second_pull_is_unchanged(tmp_path):
    from features.event_store import EventStore
    from features.gazetteer import Gazetteer
    from features.ingest import pull_ucdp

    store, gazetteer = EventStore(tmp_path / "events.duckdb"), Gazetteer.load("MLI")
    with client(paging([])) as c:
        first = pull_ucdp(c, gazetteer, store, start=date(2021, 1, 1), end=date(2021, 12, 31))
        second = pull_ucdp(c, gazetteer, store, start=date(2021, 1, 1), end=date(2021, 12, 31))
    assert (first.added, second.unchanged, second.added) == (3, 3, 0)
    assert first.source_file == "UCDP API gedevents 25.1"
    stored = store.events().set_index("event_id")
    assert pd.notna(stored.loc["900001", "district_code"]) and pd.isna(stored.loc["900003", "district_code"])
    assert first.unassigned_by_reason == {"located only to the region 'Mopti region' (where_prec 4)": 1}


def test_the_command_refuses_without_a_token(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.delenv("UCDP_ACCESS_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["ingest", "--ucdp-api", "--home", str(tmp_path / "h"), "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout.strip().splitlines()[-1])
    assert error["error_type"] == "NoUcdpToken" and "UCDP_ACCESS_TOKEN" in error["error"]
