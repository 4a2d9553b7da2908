"""UCDP GED API client against recorded responses (recorded/ucdp) served by httpx.MockTransport: no network."""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.schema import EVENT_COLUMNS, SourceFileError, empty_events, event_dtypes
from features.sources.ucdp import read_ucdp_ged
from features.sources.ucdp_api import (
    DEFAULT_VERSION,
    MAX_PAGE_SIZE,
    TOKEN_ENV,
    TOKEN_HEADER,
    UcdpApiError,
    UcdpClient,
    UcdpCredentials,
    gw_code,
)

RECORDED = Path(__file__).resolve().parent / "recorded" / "ucdp"
TOKEN = "ucdp-TOKEN-7f3a91c2e5"
START, END = date(2021, 1, 1), date(2021, 12, 31)
IDS = ["412701", "412733", "412790", "412815"]


def recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def page_file(page: str) -> str:
    return f"gedevents_mali_2021_page{page}.json"


def all_records() -> list[dict]:
    return recorded(page_file("0"))["Result"] + recorded(page_file("1"))["Result"]


class FakeUcdp:
    """Serves the recorded pages by their ``page`` parameter, after any queued answers; records every request."""

    def __init__(self, *queued, pages: dict[str, dict] | None = None):
        self.queued = list(queued)
        self.pages = pages
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queued:
            item = self.queued.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        page = request.url.params["page"]
        body = self.pages[page] if self.pages is not None else recorded(page_file(page))
        return httpx.Response(200, json=body)

    def pages_asked(self) -> list[str]:
        return [r.url.params["page"] for r in self.requests]


class RecordedSleep:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(fake, *, sleep=None, **kwargs) -> UcdpClient:
    return UcdpClient(UcdpCredentials(TOKEN), transport=httpx.MockTransport(fake), page_size=2,
                      sleep=sleep if sleep is not None else RecordedSleep(), **kwargs)


def as_ucdp_csv(records: list[dict], path: Path) -> Path:
    """The records as UCDP's own GED CSV writes them: dates 2021-03-05 00:00:00.000, nulls as empty cells."""
    columns = list(records[0])
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            cells = []
            for column in columns:
                value = record[column]
                if column in ("date_start", "date_end"):
                    value = value.replace("T", " ") + ".000"
                cells.append("" if value is None else str(value))
            writer.writerow(cells)
    return path


# --------------------------------------------------------------------------- paging and the request


def test_pages_through_every_page_with_the_filters_and_the_token_header():
    fake = FakeUcdp()
    with client(fake) as c:
        events = c.fetch_events(432, START, END)
    assert fake.pages_asked() == ["0", "1"]  # TotalPages is 2: no third request
    for request in fake.requests:
        assert request.method == "GET"
        assert request.url.host == "ucdpapi.pcr.uu.se" and request.url.path == f"/api/gedevents/{DEFAULT_VERSION}"
        assert request.headers[TOKEN_HEADER] == TOKEN
        assert TOKEN not in str(request.url)
    assert dict(fake.requests[0].url.params) == {
        "pagesize": "2", "page": "0", "Country": "432", "StartDate": "2021-01-01", "EndDate": "2021-12-31"}
    assert events["event_id"].tolist() == IDS


def test_the_version_and_the_page_size_are_parameters():
    fake = FakeUcdp(httpx.Response(200, json=recorded("gedevents_empty.json")))
    with UcdpClient(UcdpCredentials(TOKEN), version="24.1", transport=httpx.MockTransport(fake)) as c:
        c.fetch_events(432, START, END)
    assert fake.requests[0].url.path == "/api/gedevents/24.1"
    assert fake.requests[0].url.params["pagesize"] == str(MAX_PAGE_SIZE)
    for bad in ("../acled", "25", "latest"):
        with pytest.raises(ValueError, match="GED version"):
            UcdpClient(UcdpCredentials(TOKEN), version=bad)
    with pytest.raises(ValueError, match="page_size"):
        UcdpClient(UcdpCredentials(TOKEN), page_size=MAX_PAGE_SIZE + 1)


def test_an_iso3_code_stands_for_its_gleditsch_ward_code():
    assert gw_code(432) == gw_code("MLI") == gw_code("mli") == 432
    fake = FakeUcdp()
    with client(fake) as c:
        by_iso3 = c.fetch_events("MLI", START, END)
    assert {r.url.params["Country"] for r in fake.requests} == {"432"}
    with client(FakeUcdp()) as c:
        pd.testing.assert_frame_equal(by_iso3, c.fetch_events(432, START, END))


@pytest.mark.parametrize("country", ["XXX", 0, -432, True, "432"])
def test_an_unknown_country_is_refused_before_any_request(country):
    with client(lambda r: pytest.fail("no request expected")) as c, pytest.raises(UcdpApiError, match="Gleditsch"):
        c.fetch_events(country, START, END)


def test_a_reversed_period_is_refused_before_any_request():
    with client(lambda r: pytest.fail("no request expected")) as c, pytest.raises(ValueError, match="after end"):
        c.fetch_events(432, END, START)


def test_an_empty_result_is_the_empty_event_table():
    fake = FakeUcdp(httpx.Response(200, json=recorded("gedevents_empty.json")))
    with client(fake) as c:
        events = c.fetch_events(432, date(2030, 1, 1), date(2030, 1, 31))
    assert fake.pages_asked() == ["0"]
    pd.testing.assert_frame_equal(events, empty_events())


def test_an_incomplete_pull_is_an_error():
    short = recorded(page_file("1")) | {"Result": recorded(page_file("1"))["Result"][:1]}
    with client(FakeUcdp(pages={"0": recorded(page_file("0")), "1": short})) as c:
        with pytest.raises(UcdpApiError, match="received 3 events where the API announced TotalCount 4"):
            c.fetch_events(432, START, END)


def test_a_result_that_changes_while_paging_is_an_error():
    grown = recorded(page_file("1")) | {"TotalCount": 5, "TotalPages": 3}
    with client(FakeUcdp(pages={"0": recorded(page_file("0")), "1": grown})) as c:
        with pytest.raises(UcdpApiError, match=r"page 1: the result changed while paging \(TotalCount 4 -> 5"):
            c.fetch_events(432, START, END)


def test_an_api_that_does_not_page_is_an_error():
    with client(FakeUcdp(pages={"0": recorded(page_file("0")), "1": recorded(page_file("0"))})) as c:
        with pytest.raises(UcdpApiError, match="page 1 repeats page 0: the API is not paging"):
            c.fetch_events(432, START, END)


def test_a_duplicated_id_names_both_records_by_page():
    pages = {name: recorded(page_file(name)) for name in ("0", "1")}
    pages["1"]["Result"][1]["id"] = 412701
    with client(FakeUcdp(pages=pages)) as c, pytest.raises(SourceFileError) as caught:
        c.fetch_events(432, START, END)
    assert (caught.value.file, caught.value.row, caught.value.column) == ("UCDP API gedevents 25.1, page 0", 1, "event_id")
    assert "'412701' appears more than once (page 0, record 1 and page 1, record 2)" in caught.value.problem


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, text="<html>maintenance</html>"), "page 0: response is not JSON"),
        (httpx.Response(200, json=[1, 2]), "expected a JSON object, got list"),
        (httpx.Response(200, json={"TotalCount": 1, "TotalPages": 1}), "no 'Result' list"),
        (httpx.Response(200, json={"TotalCount": "1", "TotalPages": 1, "Result": [{}]}), "'TotalCount' is not a count"),
        (httpx.Response(200, json={"TotalCount": 1, "TotalPages": 1, "Result": ["412701"]}), "record 1 is a str"),
        (httpx.Response(404, json={"Message": "No resource version 99.1"}), "HTTP 404: No resource version 99.1"),
    ],
)
def test_an_answer_that_is_not_a_ged_page_is_a_clear_error(response, message):
    with client(FakeUcdp(response)) as c, pytest.raises(UcdpApiError, match=message):
        c.fetch_events(432, START, END)


# --------------------------------------------------------------------------- the events


def test_the_frame_is_what_the_csv_parser_returns_for_the_same_events(tmp_path):
    """Oracle: the recorded records written as UCDP's own GED CSV and read by features.sources.ucdp."""
    with client(FakeUcdp()) as c:
        from_api = c.fetch_events(432, START, END)
    from_csv = read_ucdp_ged(as_ucdp_csv(all_records(), tmp_path / "ged.csv"))
    pd.testing.assert_frame_equal(from_api, from_csv)

    from features.gazetteer import Gazetteer

    gazetteer = Gazetteer.load("MLI")
    pd.testing.assert_frame_equal(gazetteer.assign(from_api), gazetteer.assign(from_csv))


def test_the_events_follow_the_ucdp_mapping():
    with client(FakeUcdp()) as c:
        events = c.fetch_events(432, START, END)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events.dtypes.astype(str).to_dict() == event_dtypes()
    rows = events.set_index("event_id")
    assert set(events["source"]) == {"ucdp"} and set(events["country_iso3"]) == {"MLI"}
    assert rows["fatalities"].to_dict() == {"412701": 7, "412733": 3, "412790": 12, "412815": 2}
    assert rows["sub_event_type"].tolist() == [
        "State-based conflict", "Non-state conflict", "One-sided violence", "State-based conflict"]
    # Multi-day events count once, on date_start, with date_prec kept.
    assert rows.loc["412733", "event_date"] == pd.Timestamp("2021-03-08")
    assert rows.loc["412815", "event_date"] == pd.Timestamp("2021-05-01")
    assert rows["time_precision"].tolist() == [1, 2, 1, 3]
    assert rows["geo_precision"].tolist() == [1, 5, 4, 6]
    assert rows.loc["412701", ["admin1", "admin2", "location"]].tolist() == ["Mopti region", "Douentza cercle", "Boni town"]
    assert pd.isna(rows.loc["412790", "notes"]) and pd.isna(rows.loc["412815", "admin1"])  # JSON nulls
    assert rows.loc["412815", ["latitude", "longitude"]].tolist() == [17.5, -3.99]
    assert events["source_timestamp"].isna().all()


def test_region_and_country_level_events_are_kept_unassigned_with_their_reason():
    from features.gazetteer import Gazetteer

    with client(FakeUcdp()) as c:
        events = c.fetch_events(432, START, END)
    placed = pd.concat([events, Gazetteer.load("MLI").assign(events)], axis=1).set_index("event_id")
    assert placed["assignment"].to_dict() == {
        "412701": "point", "412733": "name", "412790": "unassigned", "412815": "unassigned"}
    assert placed.loc[["412701", "412733"], "district_code"].tolist() == ["ML0506", "ML0702"]  # Douentza, Ansongo
    assert placed.loc["412790", "unassigned_reason"] == "located only to the region 'Mopti region' (where_prec 4)"
    assert placed.loc["412815", "unassigned_reason"] == "located only to the country 'MLI' (where_prec 6)"


def test_json_numbers_strings_and_floats_read_alike():
    pages = {name: recorded(page_file(name)) for name in ("0", "1")}
    record = pages["1"]["Result"][0]
    record.update(best="12", where_prec=4.0, latitude="14.5", type_of_violence=3.0)
    with client(FakeUcdp(pages=pages)) as c:
        varied = c.fetch_events(432, START, END)
    with client(FakeUcdp()) as c:
        pd.testing.assert_frame_equal(varied, c.fetch_events(432, START, END))


@pytest.mark.parametrize(
    ("page", "position", "field", "value", "column", "problem"),
    [
        ("1", 2, "best", "many", "best", "expected a whole number, found 'many'"),
        ("0", 2, "date_start", "2021-13-08T00:00:00", "date_start", "'2021-13-08T00:00:00'"),
        ("1", 1, "type_of_violence", 4, "type_of_violence", "'4'"),
        ("0", 1, "best", -7, "fatalities", ""),
        ("1", 2, "date_start", None, "date_start", "empty cell; a value is required"),
        ("0", 2, "latitude", "15.57 N", "latitude", "expected a finite number, found '15.57 N'"),
    ],
)
def test_a_malformed_record_names_the_page_the_record_and_the_field(page, position, field, value, column, problem):
    pages = {name: recorded(page_file(name)) for name in ("0", "1")}
    pages[page]["Result"][position - 1][field] = value
    with client(FakeUcdp(pages=pages)) as c, pytest.raises(SourceFileError) as caught:
        c.fetch_events(432, START, END)
    error = caught.value
    assert (error.file, error.row, error.column) == (f"UCDP API gedevents 25.1, page {page}", position, column)
    assert problem in error.problem
    assert str(error).startswith(f"UCDP API gedevents 25.1, page {page}, row {position}, column '{column}': ")


def test_a_field_missing_from_every_record_is_named():
    pages = {name: recorded(page_file(name)) for name in ("0", "1")}
    for body in pages.values():
        for record in body["Result"]:
            del record["best"]
    with client(FakeUcdp(pages=pages)) as c, pytest.raises(SourceFileError) as caught:
        c.fetch_events(432, START, END)
    assert (caught.value.row, caught.value.column) == (None, "best")
    assert str(caught.value) == "UCDP API gedevents 25.1, column 'best': missing required column 'best'"


def test_fetch_records_returns_the_raw_records_in_order():
    with client(FakeUcdp()) as c:
        assert c.fetch_records(432, START, END) == all_records()


# --------------------------------------------------------------------------- refusals, rate limits, retries


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_clear_error_without_retry(status):
    fake = FakeUcdp(httpx.Response(status, json=recorded("unauthorized_401.json")))
    sleep = RecordedSleep()
    with client(fake, sleep=sleep) as c, pytest.raises(UcdpApiError) as caught:
        c.fetch_events(432, START, END)
    message = str(caught.value)
    assert caught.value.status_code == status and len(fake.requests) == 1 and sleep.calls == []
    assert f"HTTP {status}" in message and TOKEN_ENV in message
    assert "Authorization has been denied for this request." in message
    assert TOKEN not in message


def test_server_text_that_echoes_the_token_is_scrubbed():
    body = {"Message": f"access token {TOKEN} is not valid"}
    with client(FakeUcdp(httpx.Response(401, json=body))) as c, pytest.raises(UcdpApiError) as caught:
        c.fetch_events(432, START, END)
    assert TOKEN not in str(caught.value) and "access token *** is not valid" in str(caught.value)


def test_a_rate_limit_waits_retry_after_then_succeeds():
    fake = FakeUcdp(httpx.Response(429, headers={"Retry-After": "7"}))
    sleep = RecordedSleep()
    with client(fake, sleep=sleep) as c:
        events = c.fetch_events(432, START, END)
    assert sleep.calls == [7.0]
    assert fake.pages_asked() == ["0", "0", "1"] and events["event_id"].tolist() == IDS


def test_retry_after_as_an_http_date_is_honoured_and_any_wait_is_capped():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    fake = FakeUcdp(
        httpx.Response(429, headers={"Retry-After": format_datetime(now.replace(minute=2), usegmt=True)}),
        httpx.Response(429, headers={"Retry-After": "86400"}),
    )
    sleep = RecordedSleep()
    with client(fake, sleep=sleep, clock=now.timestamp) as c:
        c.fetch_events(432, START, END)
    assert sleep.calls == [120.0, 900.0]


def test_a_rate_limit_that_lasts_is_reported_with_the_quota():
    fake = FakeUcdp(*[httpx.Response(429) for _ in range(4)])
    sleep = RecordedSleep()
    with client(fake, sleep=sleep) as c, pytest.raises(UcdpApiError) as caught:
        c.fetch_events(432, START, END)
    assert caught.value.status_code == 429 and len(fake.requests) == 4
    assert "gave up after 4 attempts" in str(caught.value) and "5,000 requests a day" in str(caught.value)
    assert sleep.calls == [2.0, 4.0, 8.0]


def test_server_errors_are_retried_with_backoff_then_reported():
    fake = FakeUcdp(*[httpx.Response(503) for _ in range(4)])
    sleep = RecordedSleep()
    with client(fake, sleep=sleep) as c, pytest.raises(UcdpApiError) as caught:
        c.fetch_events(432, START, END)
    assert str(caught.value) == (
        "UCDP API gedevents 25.1, page 0: gave up after 4 attempts, the last one failed with HTTP 503")
    assert caught.value.status_code == 503 and len(fake.requests) == 4 and sleep.calls == [2.0, 4.0, 8.0]


def test_server_and_transport_errors_then_success():
    fake = FakeUcdp(httpx.Response(500), httpx.ConnectError("connection refused"), httpx.Response(502))
    sleep = RecordedSleep()
    with client(fake, sleep=sleep, max_retries=3) as c:
        assert c.fetch_events(432, START, END)["event_id"].tolist() == IDS
    assert sleep.calls == [2.0, 4.0, 8.0] and fake.pages_asked() == ["0"] * 4 + ["1"]


# --------------------------------------------------------------------------- the token stays secret


def test_credentials_come_from_the_environment():
    assert UcdpCredentials.from_env({}) is None
    assert UcdpCredentials.from_env({TOKEN_ENV: "   "}) is None
    assert UcdpCredentials.from_env({TOKEN_ENV: f" {TOKEN}\n"}).token == TOKEN


def test_the_token_never_reaches_reprs_logs_errors_urls_or_the_events(caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    credentials = UcdpCredentials.from_env()
    shown = [repr(credentials), str(credentials), f"{credentials}", repr([credentials])]

    fake = FakeUcdp(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(503))
    with UcdpClient(credentials, transport=httpx.MockTransport(fake), page_size=2, sleep=RecordedSleep()) as c:
        shown.append(repr(c))
        events = c.fetch_events(432, START, END)
        shown.append(events.to_csv())
        shown.extend(str(request.url) for request in fake.requests)
        for failure in (httpx.Response(401, json={"Message": f"bad token {TOKEN}"}), httpx.Response(500)):
            c._http._transport = httpx.MockTransport(FakeUcdp(*[failure] * 4))
            with pytest.raises(UcdpApiError) as caught:
                c.fetch_events(432, START, END)
            shown += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    shown += [caplog.text] + [repr(record.args) for record in caplog.records] + [r.getMessage() for r in caplog.records]
    assert caplog.records, "the client logs its pages"
    for text in shown:
        assert TOKEN not in text


# --------------------------------------------------------------------------- the wiring (features.ingest.pull_ucdp)


def test_a_pull_is_stored_like_a_file_and_a_second_pull_is_unchanged(tmp_path):
    from features.event_store import EventStore
    from features.gazetteer import Gazetteer
    from features.ingest import pull_ucdp

    store, gazetteer = EventStore(tmp_path / "events.duckdb"), Gazetteer.load("MLI")
    with client(FakeUcdp()) as c:
        first = pull_ucdp(c, gazetteer, store, start=START, end=END)
        second = pull_ucdp(c, gazetteer, store, start=START, end=END)
    assert (first.added, second.unchanged, second.added) == (4, 4, 0)
    assert first.source_file == "UCDP API gedevents 25.1"
    stored = store.events().set_index("event_id")
    assert pd.notna(stored.loc["412701", "district_code"]) and pd.isna(stored.loc["412790", "district_code"])
    assert first.unassigned_by_reason == {
        "located only to the region 'Mopti region' (where_prec 4)": 1,
        "located only to the country 'MLI' (where_prec 6)": 1}


def test_the_command_refuses_without_a_token(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    result = CliRunner().invoke(app, ["ingest", "--ucdp-api", "--home", str(tmp_path / "h"), "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout.strip().splitlines()[-1])
    assert error["error_type"] == "NoUcdpToken" and TOKEN_ENV in error["error"]


def test_the_command_refuses_a_version_that_is_not_a_ged_release(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("UCDP_ACCESS_TOKEN", "tok-not-used")
    result = CliRunner().invoke(app, ["ingest", "--ucdp-api", "--ucdp-version", "latest", "--home",
                                      str(tmp_path / "h"), "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout.strip().splitlines()[-1])
    assert error["error_type"] == "UcdpVersionError" and "latest" in error["error"]
    assert "tok-not-used" not in result.output
