"""Client for ACLED's authenticated API: events by date range, events changed since a time, deletions.

ACLED authenticates with an OAuth password grant (client id ``acled``). The access token lasts 24 hours and
the refresh token 14 days; the client caches both, refreshes the access token shortly before it expires,
and logs in again with the password when the refresh token has expired or is refused.

Every request is retried on HTTP 429 (honouring ``Retry-After``), on 5xx and on transport errors, with
exponential backoff and a bounded number of attempts; no single wait exceeds ``MAX_RETRY_WAIT_SECONDS``. An HTTP 401/403 on a data request triggers one fresh
password login; a second refusal raises :class:`AcledApiError`.

Secrets: the password and the tokens never appear in reprs, log records or exception messages. Any text
this module takes from a server response before putting it in a message is scrubbed of them.

Time alignment: ACLED's ``timestamp`` (when an event was added or last changed) and ``deleted_timestamp``
are Unix seconds, UTC. ``event_date`` is a calendar day without time zone. "Today" for a first pull is the
UTC date of the injected clock.

This module is the only place that talks to the ACLED API; events come back as the normalized event table of
:mod:`features.schema`, built by :func:`features.sources.acled_files.normalize_acled_frame`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from features.schema import empty_events
from features.sources.acled_files import normalize_acled_frame
from features.sources.cell_parsing import (
    as_text,
    as_utc_timestamp,
    lowercase_columns,
    require_columns,
    required_present,
)
from features.sources.http_retry import (
    REQUEST_TIMEOUT_SECONDS,
    send_with_retries,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://acleddata.com"
TOKEN_PATH = "/oauth/token"
EVENTS_PATH = "/api/acled/read"
DELETED_PATH = "/api/deleted/read"
CLIENT_ID = "acled"
SCOPE = "authenticated"

#: Largest ``limit`` ACLED accepts for one page.
MAX_PAGE_SIZE = 5000
#: Lifetimes ACLED gives its tokens; the token response's ``expires_in`` wins for the access token.
ACCESS_TOKEN_LIFETIME_SECONDS = 24 * 3600
REFRESH_TOKEN_LIFETIME_SECONDS = 14 * 24 * 3600
#: Renew a token this many seconds before it expires, so a request never starts with a dying token.
TOKEN_EXPIRY_MARGIN_SECONDS = 300
#: How far back an incremental pull re-reads: ACLED timestamps are whole seconds and a pull can race an edit.
DEFAULT_OVERLAP = timedelta(hours=1)

_MASK = "***"


class AcledApiError(RuntimeError):
    """The ACLED API refused a request or kept failing. The message names the endpoint, never a secret."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, repr=False)
class AcledCredentials:
    """An ACLED account (the e-mail address it was registered with, and its password)."""

    username: str
    password: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AcledCredentials | None:
        """Read ``ACLED_USERNAME`` and ``ACLED_PASSWORD``; None when either is unset or empty."""
        env = os.environ if environ is None else environ
        username = env.get("ACLED_USERNAME", "").strip()
        password = env.get("ACLED_PASSWORD", "")
        if not username or not password:
            return None
        return cls(username=username, password=password)

    def __repr__(self) -> str:
        return f"AcledCredentials(username={self.username!r}, password={_MASK!r})"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class _Tokens:
    """Cached OAuth tokens; expiries are Unix seconds on the client's clock."""

    access_token: str
    access_expires_at: float
    refresh_token: str | None
    refresh_expires_at: float

    def __repr__(self) -> str:
        return f"_Tokens(access_expires_at={self.access_expires_at}, refresh_expires_at={self.refresh_expires_at})"


@dataclass(frozen=True)
class PullState:
    """Where the last pull of one country stopped.

    ``high_water_mark``: the largest ACLED ``timestamp`` (UTC) seen so far; the next pull asks for events
    changed at or after it minus an overlap. ``last_pull_at``: UTC time (client clock) when the last pull
    started; the next pull asks for deletions at or after it minus the same overlap.
    """

    high_water_mark: datetime
    last_pull_at: datetime

    def __post_init__(self) -> None:
        for name in ("high_water_mark", "last_pull_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"PullState.{name} must be timezone-aware")

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict: both times as ISO 8601 strings in UTC."""
        return {
            "high_water_mark": self.high_water_mark.astimezone(UTC).isoformat(),
            "last_pull_at": self.last_pull_at.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PullState:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                high_water_mark=datetime.fromisoformat(data["high_water_mark"]),
                last_pull_at=datetime.fromisoformat(data["last_pull_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored ACLED pull state: {data!r} ({exc})") from None


@dataclass(frozen=True, eq=False)
class PullResult:
    """What one pull brought: events to upsert, then ids to delete, and the state for the next pull.

    ``events`` is the normalized event table (no event that is also in ``deleted_event_ids``).
    ``deleted_event_ids`` are ACLED ``event_id_cnty`` values deleted since the last pull, for every country
    (the deletions endpoint has no country filter); ids the store does not hold are harmless.
    """

    events: pd.DataFrame
    deleted_event_ids: list[str]
    state: PullState


def _empty_deletions() -> pd.DataFrame:
    return pd.DataFrame(
        {"event_id": pd.Series(dtype="string"), "deleted_at": pd.Series(dtype="datetime64[s, UTC]")}
    )


def _unix_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous here: pass a timezone-aware one (UTC)")
    return int(moment.timestamp())


class AcledClient:
    """Talks to ACLED's API with one account. Use as a context manager, or call :meth:`close`.

    ``transport`` lets tests serve recorded responses (``httpx.MockTransport``); ``sleep`` and ``clock``
    (Unix seconds) are injected so that backoff and token expiry can be tested without waiting.
    """

    def __init__(
        self,
        credentials: AcledCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.BaseTransport | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_retries: int = 5,
        backoff_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self._credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._tokens: _Tokens | None = None
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=REQUEST_TIMEOUT_SECONDS)

    def __repr__(self) -> str:
        return f"AcledClient(username={self._credentials.username!r}, base_url={self.base_url!r})"

    def __enter__(self) -> AcledClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ----------------------------------------------------------------- public queries

    def fetch_events(self, country: str, start: date, end: date) -> pd.DataFrame:
        """Every event in ``country`` whose ``event_date`` lies in [start, end] (both days included)."""
        params = {
            "country": country,
            "event_date": f"{start.isoformat()}|{end.isoformat()}",
            "event_date_where": "BETWEEN",
        }
        events = self._fetch_normalized_events(params)
        logger.info("ACLED: %d events for %s dated %s to %s", len(events), country, start, end)
        return events

    def fetch_changed_since(self, country: str, since: datetime) -> pd.DataFrame:
        """Every event in ``country`` added or changed at or after ``since`` (timezone-aware; ACLED timestamp)."""
        params = {"country": country, "timestamp": _unix_seconds(since), "timestamp_where": ">="}
        events = self._fetch_normalized_events(params)
        logger.info("ACLED: %d events for %s added or changed since %s", len(events), country, since.isoformat())
        return events

    def fetch_deleted_since(self, since: datetime) -> pd.DataFrame:
        """Events ACLED deleted at or after ``since``: columns event_id (string), deleted_at (UTC, seconds).

        One row per event id (the latest deletion time when an id is listed twice), all countries.
        """
        params = {"deleted_timestamp": _unix_seconds(since), "deleted_timestamp_where": ">="}
        frames = [
            _parse_deletions(rows, label) for label, rows in self._pages(DELETED_PATH, "deleted/read", params)
        ]
        deleted = pd.concat([_empty_deletions(), *frames], ignore_index=True)
        deleted = (
            deleted.sort_values("deleted_at", kind="stable")
            .drop_duplicates("event_id", keep="last")
            .reset_index(drop=True)
        )
        logger.info("ACLED: %d events deleted since %s", len(deleted), since.isoformat())
        return deleted

    def pull_incremental(
        self,
        country: str,
        state: PullState | None,
        *,
        initial_start: date,
        overlap: timedelta = DEFAULT_OVERLAP,
    ) -> PullResult:
        """Bring a local copy of ``country``'s events up to date.

        Without ``state``: every event dated ``initial_start`` to today (UTC), and no deletions. With it:
        the events changed since ``state.high_water_mark - overlap`` and the deletions since
        ``state.last_pull_at - overlap``. Deletions are fetched after events, so an event deleted while the
        pull ran is dropped from ``events``. The new high-water mark is the largest ``source_timestamp``
        seen (or the previous mark; on a first pull that finds nothing, the pull's start time).
        """
        started_at = datetime.fromtimestamp(self._clock(), UTC)
        if state is None:
            events = self.fetch_events(country, initial_start, started_at.date())
            deleted_ids: list[str] = []
        else:
            events = self.fetch_changed_since(country, state.high_water_mark - overlap)
            deleted = self.fetch_deleted_since(state.last_pull_at - overlap)
            deleted_ids = deleted["event_id"].tolist()
            events = events[~events["event_id"].isin(deleted_ids)].reset_index(drop=True)
        seen = events["source_timestamp"].max()
        marks = [] if pd.isna(seen) else [seen.to_pydatetime()]
        if state is not None:
            marks.append(state.high_water_mark)
        high_water_mark = max(marks) if marks else started_at
        new_state = PullState(high_water_mark=high_water_mark, last_pull_at=started_at)
        logger.info(
            "ACLED pull for %s: %d events, %d deletions, high-water mark %s",
            country,
            len(events),
            len(deleted_ids),
            high_water_mark.isoformat(),
        )
        return PullResult(events=events, deleted_event_ids=deleted_ids, state=new_state)

    # ----------------------------------------------------------------- paging

    def _fetch_normalized_events(self, params: dict[str, Any]) -> pd.DataFrame:
        frames = [
            _normalize_page(rows, label) for label, rows in self._pages(EVENTS_PATH, "acled/read", params)
        ]
        events = pd.concat([empty_events(), *frames], ignore_index=True)
        # Offset paging over a table that changes while we read can hand out the same event twice.
        events = (
            events.sort_values("source_timestamp", kind="stable", na_position="first")
            .drop_duplicates("event_id", keep="last")
            .sort_values(["event_date", "event_id"], kind="stable")
            .reset_index(drop=True)
        )
        return events

    def _pages(self, path: str, endpoint: str, params: Mapping[str, Any]) -> Iterator[tuple[str, list[dict]]]:
        """Yield (label, rows) per page until a page is shorter than ``page_size``."""
        page = 1
        previous: list[dict] | None = None
        while True:
            label = f"ACLED API ({endpoint}, page {page})"
            query = {**params, "_format": "json", "limit": self.page_size, "page": page}
            rows = self._get_rows(path, query, label)
            logger.info("%s: %d rows", label, len(rows))
            if rows and rows == previous:
                raise AcledApiError(f"{label} repeats page {page - 1}: the API is not paging")
            if rows:
                yield label, rows
            if len(rows) < self.page_size:
                return
            previous = rows
            page += 1

    # ----------------------------------------------------------------- authenticated GET

    def _get_rows(self, path: str, params: Mapping[str, Any], label: str) -> list[dict]:
        """GET one page with a valid token; log in again once if the API says 401/403."""
        logged_in_again = False
        while True:
            headers = {"Authorization": f"Bearer {self._access_token()}"}
            response = self._send("GET", path, label, params=params, headers=headers)
            if response.status_code in (401, 403):
                if logged_in_again:
                    raise AcledApiError(
                        f"{label}: HTTP {response.status_code} even after logging in again; check that the "
                        "ACLED account (ACLED_USERNAME) has API access",
                        status_code=response.status_code,
                    )
                logger.warning("%s: HTTP %d, logging in again", label, response.status_code)
                self._tokens = None
                logged_in_again = True
                continue
            if response.is_error:
                raise AcledApiError(
                    f"{label}: HTTP {response.status_code}{self._server_says(response)}",
                    status_code=response.status_code,
                )
            return self._rows_of(response, label)

    def _rows_of(self, response: httpx.Response, label: str) -> list[dict]:
        try:
            body = response.json()
        except ValueError:
            raise AcledApiError(f"{label}: response is not JSON") from None
        if not isinstance(body, dict):
            raise AcledApiError(f"{label}: expected a JSON object, got {type(body).__name__}")
        if body.get("success") is False:
            status = body.get("status")
            raise AcledApiError(
                f"{label}: the API reports failure (status {status}){self._server_says(response)}",
                status_code=status if isinstance(status, int) else None,
            )
        rows = body.get("data")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise AcledApiError(f"{label}: 'data' is not a list of records")
        return rows

    # ----------------------------------------------------------------- tokens

    def _access_token(self) -> str:
        now = self._clock()
        tokens = self._tokens
        if tokens is not None and now < tokens.access_expires_at - TOKEN_EXPIRY_MARGIN_SECONDS:
            return tokens.access_token
        if (
            tokens is not None
            and tokens.refresh_token is not None
            and now < tokens.refresh_expires_at - TOKEN_EXPIRY_MARGIN_SECONDS
        ):
            try:
                self._tokens = self._request_tokens(
                    {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": CLIENT_ID},
                    grant="refresh",
                    previous=tokens,
                )
                return self._tokens.access_token
            except AcledApiError as exc:
                if exc.status_code not in (400, 401, 403):
                    raise
                logger.warning("ACLED refused the refresh token (HTTP %d); logging in with the password", exc.status_code)
        self._tokens = self._request_tokens(
            {
                "grant_type": "password",
                "username": self._credentials.username,
                "password": self._credentials.password,
                "client_id": CLIENT_ID,
                "scope": SCOPE,
            },
            grant="password",
            previous=None,
        )
        return self._tokens.access_token

    def _request_tokens(self, form: dict[str, str], *, grant: str, previous: _Tokens | None) -> _Tokens:
        label = f"ACLED token endpoint ({grant} grant)"
        issued_at = self._clock()
        response = self._send("POST", TOKEN_PATH, label, data=form)
        if response.is_error:
            hint = "; check ACLED_USERNAME and ACLED_PASSWORD" if grant == "password" else ""
            raise AcledApiError(
                f"{label}: HTTP {response.status_code}{self._server_says(response)}{hint}",
                status_code=response.status_code,
            )
        try:
            body = response.json()
            access_token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise AcledApiError(f"{label}: response carries no access token") from None
        if not isinstance(access_token, str) or not access_token:
            raise AcledApiError(f"{label}: response carries no access token")
        expires_in = body.get("expires_in", ACCESS_TOKEN_LIFETIME_SECONDS)
        if not isinstance(expires_in, (int, float)) or expires_in <= 0:
            expires_in = ACCESS_TOKEN_LIFETIME_SECONDS
        refresh_token = body.get("refresh_token")
        if isinstance(refresh_token, str) and refresh_token:
            refresh_expires_at = issued_at + REFRESH_TOKEN_LIFETIME_SECONDS
        elif previous is not None:
            refresh_token, refresh_expires_at = previous.refresh_token, previous.refresh_expires_at
        else:
            refresh_token, refresh_expires_at = None, issued_at
        logger.info("%s: new access token, valid %d s", label, int(expires_in))
        return _Tokens(
            access_token=access_token,
            access_expires_at=issued_at + float(expires_in),
            refresh_token=refresh_token,
            refresh_expires_at=refresh_expires_at,
        )

    # ----------------------------------------------------------------- transport, retries, secrets

    def _send(self, method: str, path: str, label: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on 429, 5xx and transport errors; other statuses are returned as they are."""
        return send_with_retries(lambda: self._http.request(method, path, **kwargs), label,
                                 attempts=self.max_retries + 1, backoff_seconds=self.backoff_seconds,
                                 sleep=self._sleep, clock=self._clock, logger=logger,
                                 fail=lambda message, status: AcledApiError(message, status_code=status))

    def _secrets(self) -> list[str]:
        secrets = [self._credentials.password]
        if self._tokens is not None:
            secrets.append(self._tokens.access_token)
            if self._tokens.refresh_token:
                secrets.append(self._tokens.refresh_token)
        return [s for s in secrets if s]

    def _server_says(self, response: httpx.Response) -> str:
        """The server's own error text, shortened and scrubbed of secrets, as ': ...' (or '')."""
        try:
            body = response.json()
        except ValueError:
            return ""
        detail: Any = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                detail = error.get("message") or error
            else:
                detail = body.get("error_description") or error or body.get("message")
        if not detail:
            return ""
        text = str(detail)
        for secret in self._secrets():
            text = text.replace(secret, _MASK)
        return f": {text[:200]}"


# --------------------------------------------------------------------- page parsers (pure)


def _normalize_page(rows: list[dict], label: str) -> pd.DataFrame:
    """One page of API records as the normalized event table; row numbers in errors are 1-based within the page."""
    # Hand the parser text, as an export delivers it, whatever JSON types the API chose; dtype=object keeps
    # each value as the JSON had it (no int -> float widening of a column that has a null on this page).
    raw = pd.DataFrame(rows, dtype=object).astype("string")
    return normalize_acled_frame(raw, file=label, first_line=1)


def _parse_deletions(rows: list[dict], label: str) -> pd.DataFrame:
    """One page of deletion records (event_id_cnty; deleted_timestamp in Unix seconds, UTC) as the deletions frame.

    Row numbers in errors are 1-based within the page.
    """
    raw = lowercase_columns(pd.DataFrame(rows, dtype=object))
    require_columns(raw, ("event_id_cnty", "deleted_timestamp"), file=label)
    lines = np.arange(1, len(raw) + 1)
    event_id = as_text(raw["event_id_cnty"])
    required_present(event_id, lines, file=label, column="event_id_cnty")
    deleted_at = as_utc_timestamp(raw["deleted_timestamp"], lines, file=label, column="deleted_timestamp")
    required_present(deleted_at, lines, file=label, column="deleted_timestamp")
    return pd.DataFrame({"event_id": event_id, "deleted_at": deleted_at}).reset_index(drop=True)
