"""ACLED API client against recorded responses served by httpx.MockTransport, with a fake clock and sleep."""

from __future__ import annotations

import json
import logging
from collections import deque
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pandas as pd
import pytest

from features.schema import EVENT_COLUMNS, SourceFileError, event_dtypes
from features.sources.acled_api import (
    AcledApiError,
    AcledClient,
    AcledCredentials,
    PullState,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "acled_api"

PASSWORD = "S3cret-Vigie-Pa55!"
USERNAME = "analyst@vigie.example"
#: Every token the recorded token responses hand out.
TOKENS = (
    "ACCESS-first-Zq81xKvT",
    "REFRESH-first-Pm27wVq",
    "ACCESS-refreshed-Lr55tBn",
    "REFRESH-second-Hc09yNe",
    "ACCESS-relogin-Wd44sMj",
    "REFRESH-relogin-Ka62pLo",
)
START = 1_717_977_600.0  # 2024-06-10T00:00:00Z
DAY = 86_400.0


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class FakeClock:
    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordedSleep:
    """Records each wait and moves the fake clock on by it, as a real sleep would."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.now += seconds


class FakeAcled:
    """Serves queued recorded responses per route; the last response of a route is served again when it runs out.

    Routes: ``token:password``, ``token:refresh_token``, ``events:<page>``, ``deleted:<page>``.
    A queued item is (status, fixture name or None, headers) or an exception to raise.
    """

    def __init__(self, routes: dict[str, list]):
        self.routes = {key: deque(items) for key, items in routes.items()}
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            key, params = f"token:{form['grant_type']}", form
        else:
            params = dict(request.url.params)
            endpoint = {"/api/acled/read": "events", "/api/deleted/read": "deleted"}[request.url.path]
            key = f"{endpoint}:{params.get('page')}"
        self.requests.append(
            {"route": key, "params": params, "authorization": request.headers.get("Authorization")}
        )
        queue = self.routes[key]
        item = queue.popleft() if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        status, name, headers = item
        return httpx.Response(status, json=fixture(name) if name else None, headers=headers)

    def routes_called(self) -> list[str]:
        return [r["route"] for r in self.requests]

    def token_grants(self) -> list[str]:
        return [r["route"] for r in self.requests if r["route"].startswith("token:")]

    def bearers(self) -> list[str]:
        return [r["authorization"] for r in self.requests if not r["route"].startswith("token:")]


def ok(name: str) -> tuple:
    return (200, name, {})


PASSWORD_GRANT = ok("token_password_grant.json")
ONE_PAGE = {"token:password": [PASSWORD_GRANT], "events:1": [ok("events_mali_page3.json")]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock) -> RecordedSleep:
    return RecordedSleep(clock)


@pytest.fixture
def credentials() -> AcledCredentials:
    return AcledCredentials(username=USERNAME, password=PASSWORD)


def make_client(server: FakeAcled, credentials, clock, sleep, **kwargs) -> AcledClient:
    kwargs.setdefault("page_size", 2)
    return AcledClient(
        credentials, transport=httpx.MockTransport(server), sleep=sleep, clock=clock, **kwargs
    )


def fetch_2020(client: AcledClient) -> pd.DataFrame:
    return client.fetch_events("Mali", date(2020, 1, 1), date(2020, 7, 31))


# ------------------------------------------------------------------ tokens


def test_token_is_obtained_once_and_reused(credentials, clock, sleep):
    server = FakeAcled(ONE_PAGE)
    client = make_client(server, credentials, clock, sleep)
    fetch_2020(client)
    clock.now += 23 * 3600
    fetch_2020(client)
    assert server.token_grants() == ["token:password"]
    password_form = server.requests[0]["params"]
    assert password_form == {
        "username": USERNAME,
        "password": PASSWORD,
        "grant_type": "password",
        "client_id": "acled",
        "scope": "authenticated",
    }
    assert server.bearers() == ["Bearer ACCESS-first-Zq81xKvT"] * 2


def test_access_token_is_refreshed_after_24_hours(credentials, clock, sleep):
    server = FakeAcled({**ONE_PAGE, "token:refresh_token": [ok("token_refresh_grant.json")]})
    client = make_client(server, credentials, clock, sleep)
    fetch_2020(client)
    clock.now += DAY
    fetch_2020(client)
    assert server.token_grants() == ["token:password", "token:refresh_token"]
    refresh_form = server.requests[2]["params"]
    assert refresh_form == {
        "grant_type": "refresh_token",
        "refresh_token": "REFRESH-first-Pm27wVq",
        "client_id": "acled",
    }
    assert server.bearers() == ["Bearer ACCESS-first-Zq81xKvT", "Bearer ACCESS-refreshed-Lr55tBn"]


def test_refused_refresh_token_falls_back_to_password_grant(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT, ok("token_password_grant_again.json")],
            "token:refresh_token": [(400, "token_invalid_refresh.json", {})],
            "events:1": [ok("events_mali_page3.json")],
        }
    )
    client = make_client(server, credentials, clock, sleep)
    fetch_2020(client)
    clock.now += DAY + 1
    fetch_2020(client)
    assert server.token_grants() == ["token:password", "token:refresh_token", "token:password"]
    assert server.bearers()[-1] == "Bearer ACCESS-relogin-Wd44sMj"


def test_expired_refresh_token_goes_straight_to_password_grant(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT, ok("token_password_grant_again.json")],
            "events:1": [ok("events_mali_page3.json")],
        }
    )
    client = make_client(server, credentials, clock, sleep)
    fetch_2020(client)
    clock.now += 15 * DAY
    fetch_2020(client)
    assert server.token_grants() == ["token:password", "token:password"]
    assert server.bearers()[-1] == "Bearer ACCESS-relogin-Wd44sMj"


def test_refused_password_raises_without_retrying(credentials, clock, sleep):
    server = FakeAcled({"token:password": [(401, "token_refused_echoing_password.json", {})]})
    client = make_client(server, credentials, clock, sleep)
    with pytest.raises(AcledApiError, match="password grant.*HTTP 401.*ACLED_USERNAME") as info:
        fetch_2020(client)
    assert info.value.status_code == 401
    assert server.routes_called() == ["token:password"]
    assert sleep.calls == []


# ------------------------------------------------------------------ paging


def test_events_are_paged_until_a_short_page(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_page1.json")],
            "events:2": [ok("events_mali_page2.json")],
            "events:3": [ok("events_mali_page3.json")],
        }
    )
    events = fetch_2020(make_client(server, credentials, clock, sleep))
    event_requests = [r for r in server.requests if r["route"].startswith("events:")]
    assert [r["params"] for r in event_requests] == [
        {
            "country": "Mali",
            "event_date": "2020-01-01|2020-07-31",
            "event_date_where": "BETWEEN",
            "_format": "json",
            "limit": "2",
            "page": str(page),
        }
        for page in (1, 2, 3)
    ]
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events.dtypes.astype(str).to_dict() == event_dtypes()
    assert events["event_id"].tolist() == ["MLI4101", "MLI4102", "MLI4110", "MLI4117", "MLI4125"]
    assert (events["source"] == "acled").all()
    assert (events["country_iso3"] == "MLI").all()
    assert events["fatalities"].tolist() == [4, 2, 3, 0, 7]
    assert events.loc[4, "source_timestamp"] == pd.Timestamp(1_596_500_000, unit="s", tz="UTC")
    assert events.loc[1, "assoc_actors"] == "Dogon Ethnic Group (Mali)"
    assert pd.isna(events.loc[3, "actor2"])  # the API writes "" for "no actor"


def test_numbers_and_nulls_in_api_json_read_like_the_text_export(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_page1.json")],
            "events:2": [ok("events_empty.json")],
        }
    )
    as_text = fetch_2020(make_client(server, credentials, clock, sleep))
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_numeric_fields.json")],
            "events:2": [ok("events_empty.json")],
        }
    )
    as_numbers = fetch_2020(make_client(server, credentials, clock, sleep))
    expected = as_text.copy()
    expected.loc[1, "geo_precision"] = pd.NA
    pd.testing.assert_frame_equal(as_numbers, expected)


def test_paging_stops_on_an_empty_page_after_full_ones(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_page1.json")],
            "events:2": [ok("events_empty.json")],
        }
    )
    events = fetch_2020(make_client(server, credentials, clock, sleep))
    assert server.routes_called() == ["token:password", "events:1", "events:2"]
    assert len(events) == 2


def test_no_events_gives_an_empty_normalized_table(credentials, clock, sleep):
    server = FakeAcled({"token:password": [PASSWORD_GRANT], "events:1": [ok("events_empty.json")]})
    events = fetch_2020(make_client(server, credentials, clock, sleep))
    assert events.empty
    assert events.dtypes.astype(str).to_dict() == event_dtypes()


def test_a_page_repeated_by_the_server_is_an_error(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_page1.json")],
            "events:2": [ok("events_mali_page1.json")],
        }
    )
    with pytest.raises(AcledApiError, match=r"page 2\) repeats page 1"):
        fetch_2020(make_client(server, credentials, clock, sleep))


# ------------------------------------------------------------------ retries


def test_rate_limit_honours_retry_after_then_backs_off(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [
                (429, "api_rate_limited.json", {"Retry-After": "7"}),
                (429, "api_rate_limited.json", {}),
                ok("events_mali_page3.json"),
            ],
        }
    )
    events = fetch_2020(make_client(server, credentials, clock, sleep, backoff_seconds=2.0))
    assert sleep.calls == [7.0, 4.0]
    assert events["event_id"].tolist() == ["MLI4125"]


def test_retry_after_as_http_date(credentials, clock, sleep):
    retry_at = datetime.fromtimestamp(START + 30, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [(429, "api_rate_limited.json", {"Retry-After": retry_at}), ok("events_mali_page3.json")],
        }
    )
    fetch_2020(make_client(server, credentials, clock, sleep))
    assert sleep.calls == [30.0]


def test_server_errors_and_transport_errors_are_retried(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [(503, None, {}), PASSWORD_GRANT],
            "events:1": [
                (500, "api_server_error.json", {}),
                httpx.ConnectError("connection reset"),
                ok("events_mali_page3.json"),
            ],
        }
    )
    events = fetch_2020(make_client(server, credentials, clock, sleep, backoff_seconds=2.0))
    assert sleep.calls == [2.0, 2.0, 4.0]
    assert len(events) == 1


def test_exhausted_retries_raise(credentials, clock, sleep):
    server = FakeAcled({"token:password": [PASSWORD_GRANT], "events:1": [(500, "api_server_error.json", {})]})
    client = make_client(server, credentials, clock, sleep, max_retries=3, backoff_seconds=1.5)
    with pytest.raises(AcledApiError, match=r"acled/read, page 1\): gave up after 4 attempts.*HTTP 500") as info:
        fetch_2020(client)
    assert info.value.status_code == 500
    assert sleep.calls == [1.5, 3.0, 6.0]
    assert server.routes_called().count("events:1") == 4


def test_backoff_is_capped(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [(429, "api_rate_limited.json", {"Retry-After": "86400"}), ok("events_mali_page3.json")],
        }
    )
    fetch_2020(make_client(server, credentials, clock, sleep))
    assert sleep.calls == [900.0]


# ------------------------------------------------------------------ 401 / 403


def test_401_logs_in_again_once_then_succeeds(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT, ok("token_password_grant_again.json")],
            "events:1": [(401, "api_unauthorized.json", {}), ok("events_mali_page3.json")],
        }
    )
    events = fetch_2020(make_client(server, credentials, clock, sleep))
    assert server.token_grants() == ["token:password", "token:password"]
    assert server.bearers() == ["Bearer ACCESS-first-Zq81xKvT", "Bearer ACCESS-relogin-Wd44sMj"]
    assert len(events) == 1


def test_401_after_logging_in_again_raises(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT, ok("token_password_grant_again.json")],
            "events:1": [(401, "api_unauthorized.json", {})],
        }
    )
    with pytest.raises(AcledApiError, match="HTTP 401 even after logging in again") as info:
        fetch_2020(make_client(server, credentials, clock, sleep))
    assert info.value.status_code == 401
    assert server.routes_called() == ["token:password", "events:1", "token:password", "events:1"]


# ------------------------------------------------------------------ changes, deletions, incremental pulls


def test_deletions_are_parsed_and_deduplicated(credentials, clock, sleep):
    server = FakeAcled({"token:password": [PASSWORD_GRANT], "deleted:1": [ok("deleted_since.json")]})
    client = make_client(server, credentials, clock, sleep, page_size=10)
    deleted = client.fetch_deleted_since(datetime(2024, 6, 8, tzinfo=UTC))
    assert server.requests[-1]["params"] == {
        "deleted_timestamp": str(int(datetime(2024, 6, 8, tzinfo=UTC).timestamp())),
        "deleted_timestamp_where": ">=",
        "_format": "json",
        "limit": "10",
        "page": "1",
    }
    assert deleted.dtypes.astype(str).to_dict() == {"event_id": "string", "deleted_at": "datetime64[s, UTC]"}
    assert deleted["event_id"].tolist() == ["BFO11872", "MLI9134", "MLI8990"]
    assert deleted.set_index("event_id").loc["MLI8990", "deleted_at"] == pd.Timestamp(1_717_940_000, unit="s", tz="UTC")


def test_unreadable_deletion_timestamp_names_page_row_and_column(credentials, clock, sleep):
    server = FakeAcled({"token:password": [PASSWORD_GRANT], "deleted:1": [ok("deleted_bad_timestamp.json")]})
    client = make_client(server, credentials, clock, sleep, page_size=10)
    with pytest.raises(SourceFileError) as info:
        client.fetch_deleted_since(datetime(2024, 6, 8, tzinfo=UTC))
    assert (info.value.file, info.value.row, info.value.column) == (
        "ACLED API (deleted/read, page 1)",
        2,
        "deleted_timestamp",
    )


def test_naive_since_is_refused(credentials, clock, sleep):
    client = make_client(FakeAcled({}), credentials, clock, sleep)
    with pytest.raises(ValueError, match="timezone-aware"):
        client.fetch_changed_since("Mali", datetime(2024, 6, 1))


def test_first_pull_fetches_from_initial_start_to_today(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_page1.json")],
            "events:2": [ok("events_mali_page2.json")],
            "events:3": [ok("events_mali_page3.json")],
        }
    )
    result = make_client(server, credentials, clock, sleep).pull_incremental(
        "Mali", None, initial_start=date(2020, 1, 1)
    )
    assert server.requests[1]["params"]["event_date"] == "2020-01-01|2024-06-10"
    assert not any(route.startswith("deleted:") for route in server.routes_called())
    assert len(result.events) == 5
    assert result.deleted_event_ids == []
    assert result.state == PullState(
        high_water_mark=datetime.fromtimestamp(1_596_500_000, UTC),
        last_pull_at=datetime.fromtimestamp(START, UTC),
    )


def test_incremental_pull_sends_timestamp_filter_and_returns_deletions(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_mali_changed_since.json")],
            "deleted:1": [ok("deleted_since.json")],
        }
    )
    state = PullState(
        high_water_mark=datetime(2024, 6, 6, 12, 0, tzinfo=UTC),
        last_pull_at=datetime(2024, 6, 7, 6, 0, tzinfo=UTC),
    )
    client = make_client(server, credentials, clock, sleep, page_size=10)
    result = client.pull_incremental("Mali", state, initial_start=date(2020, 1, 1))

    events_params = next(r["params"] for r in server.requests if r["route"] == "events:1")
    assert events_params["country"] == "Mali"
    assert events_params["timestamp"] == str(int(datetime(2024, 6, 6, 11, 0, tzinfo=UTC).timestamp()))
    assert events_params["timestamp_where"] == ">="
    assert "event_date" not in events_params
    deleted_params = next(r["params"] for r in server.requests if r["route"] == "deleted:1")
    assert deleted_params["deleted_timestamp"] == str(int(datetime(2024, 6, 7, 5, 0, tzinfo=UTC).timestamp()))

    # MLI9134 came back as changed but was deleted in the same window: it is a deletion, not an upsert.
    assert result.events["event_id"].tolist() == ["MLI9120", "MLI9133"]
    assert sorted(result.deleted_event_ids) == ["BFO11872", "MLI8990", "MLI9134"]
    assert result.state.high_water_mark == datetime.fromtimestamp(1_717_900_000, UTC)
    assert result.state.last_pull_at == datetime.fromtimestamp(START, UTC)


def test_incremental_pull_with_nothing_new_keeps_the_mark(credentials, clock, sleep):
    server = FakeAcled(
        {
            "token:password": [PASSWORD_GRANT],
            "events:1": [ok("events_empty.json")],
            "deleted:1": [ok("events_empty.json")],
        }
    )
    state = PullState(high_water_mark=datetime(2024, 6, 6, 12, tzinfo=UTC), last_pull_at=datetime(2024, 6, 7, tzinfo=UTC))
    result = make_client(server, credentials, clock, sleep).pull_incremental("Mali", state, initial_start=date(2020, 1, 1))
    assert result.events.empty
    assert result.deleted_event_ids == []
    assert result.state.high_water_mark == state.high_water_mark
    assert result.state.last_pull_at == datetime.fromtimestamp(START, UTC)


def test_pull_state_round_trips_through_json():
    state = PullState(
        high_water_mark=datetime(2024, 6, 8, 2, 41, 40, tzinfo=UTC),
        last_pull_at=datetime(2024, 6, 10, tzinfo=UTC),
    )
    stored = json.loads(json.dumps(state.to_dict()))
    assert stored == {"high_water_mark": "2024-06-08T02:41:40+00:00", "last_pull_at": "2024-06-10T00:00:00+00:00"}
    assert PullState.from_dict(stored) == state


@pytest.mark.parametrize(
    "stored",
    [{"high_water_mark": 5}, {"high_water_mark": "2024-06-08T02:41:40", "last_pull_at": "2024-06-10T00:00:00"}],
)
def test_pull_state_rejects_what_it_did_not_write(stored):
    with pytest.raises(ValueError):
        PullState.from_dict(stored)


# ------------------------------------------------------------------ secrets and credentials


def test_secrets_never_leak_into_logs_reprs_or_errors(credentials, clock, sleep, caplog):
    caplog.set_level(logging.DEBUG)
    server = FakeAcled(
        {
            "token:password": [
                PASSWORD_GRANT,
                ok("token_password_grant_again.json"),
                (401, "token_refused_echoing_password.json", {}),
            ],
            "token:refresh_token": [(400, "token_invalid_refresh.json", {})],
            "events:1": [
                (429, "api_rate_limited.json", {"Retry-After": "3"}),
                ok("events_mali_page3.json"),
                (401, "api_unauthorized.json", {}),
            ],
        }
    )
    client = make_client(server, credentials, clock, sleep)
    fetch_2020(client)
    clock.now += DAY  # refresh refused -> password grant again -> 401 -> relogin refused
    with pytest.raises(AcledApiError) as info:
        fetch_2020(client)

    assert server.token_grants() == ["token:password", "token:refresh_token", "token:password", "token:password"]
    assert caplog.records, "the client should log what it does"
    exposed = "\n".join([caplog.text, repr(client), str(client), repr(credentials), str(credentials), str(info.value), repr(info.value)])
    for secret in (PASSWORD, *TOKENS):
        assert secret not in exposed
    assert USERNAME in repr(credentials)


def test_credentials_from_env(monkeypatch):
    monkeypatch.setenv("ACLED_USERNAME", USERNAME)
    monkeypatch.setenv("ACLED_PASSWORD", PASSWORD)
    assert AcledCredentials.from_env() == AcledCredentials(USERNAME, PASSWORD)


@pytest.mark.parametrize("present", [{}, {"ACLED_USERNAME": USERNAME}, {"ACLED_USERNAME": USERNAME, "ACLED_PASSWORD": ""}])
def test_credentials_from_env_missing(monkeypatch, present):
    monkeypatch.delenv("ACLED_USERNAME", raising=False)
    monkeypatch.delenv("ACLED_PASSWORD", raising=False)
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    assert AcledCredentials.from_env() is None
