"""Client for UCDP's GED API: every GED event of a country and period, as the normalized event table.

**The request.** ``GET https://ucdpapi.pcr.uu.se/api/gedevents/<version>`` with ``pagesize`` (at most
:data:`MAX_PAGE_SIZE`), ``page`` (0-based) and the filters ``Country=<Gleditsch-Ward code>`` (Mali = 432;
not ISO), ``StartDate=YYYY-MM-DD`` and ``EndDate=YYYY-MM-DD``. ``<version>`` is a GED release such as
``25.1`` (:data:`DEFAULT_VERSION`); UCDP guarantees that a versioned URL always returns the same data.
Which multi-day events straddling the window are returned is decided by UCDP's StartDate/EndDate filter;
the client keeps every event the API returns and does not filter further.

**Authentication and quota.** UCDP requires an access token in the HTTP header ``x-ucdp-access-token``;
it comes from the environment variable ``UCDP_ACCESS_TOKEN`` (:meth:`UcdpCredentials.from_env`). The token
is sent in that header only: never in a URL, a log record, a repr, an exception message or the returned
events; any server text quoted in an error is scrubbed of it. UCDP allows 5,000 requests a day (errors
count too). HTTP 401/403 is a refused token (no retry: the error says to set ``UCDP_ACCESS_TOKEN``); 429 is
waited out, honouring ``Retry-After`` (no single wait exceeds ``MAX_RETRY_WAIT_SECONDS``, 900 s); 5xx and
transport errors are retried with exponential backoff (``backoff_seconds`` * 2**n seconds), a bounded
number of times, then raise :class:`UcdpApiError`.

**The answer.** ``{"TotalCount": int, "TotalPages": int, "PreviousPageUrl": str, "NextPageUrl": str,
"Result": [event, ...]}``. The client asks pages 0 .. TotalPages-1 itself (``NextPageUrl`` is not
followed) and checks that it received TotalCount events. Each event holds the GED fields of UCDP's CSV
(``id``, ``type_of_violence``, ``side_a``, ``side_b``, ``where_prec``, ``adm_1``, ``adm_2``, ``latitude``,
``longitude`` (WGS84 degrees), ``country``, ``date_prec``, ``date_start``, ``date_end``, ``best``, ``high``,
``low`` (deaths, persons), ...), with dates as ISO date-times such as ``2021-03-05T00:00:00`` (a calendar
day, no time zone), numbers as JSON numbers and absent text as null.

**Mapping to Vigie's events.** The records are handed, as text cells, to
:func:`features.sources.ucdp.normalize_ucdp_frame`, the very function that reads UCDP's CSV, so an API
pull gives exactly the event table :func:`features.sources.ucdp.read_ucdp_ged` gives for the same events
in a CSV: ``source = "ucdp"``, event_id = ``id``, event_date = the day of ``date_start`` (a multi-day event
counts once, on its first day; ``time_precision`` = ``date_prec``), fatalities = ``best``,
``geo_precision`` = ``where_prec`` (region- and country-level events, where_prec 4-7, are kept and later
left unassigned by the gazetteer with their reason), and so on (see :mod:`features.sources.ucdp`). A
malformed record raises :class:`features.schema.SourceFileError` whose file is
``"UCDP API gedevents <version>, page <n>"`` (the API's 0-based page) and whose row is the record's
1-based position within that page, with the field named as the CSV parser names it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd

from features.schema import SourceFileError
from features.sources.http_retry import REQUEST_TIMEOUT_SECONDS, send_with_retries
from features.sources.ucdp import REQUIRED_COLUMNS, normalize_ucdp_frame

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://ucdpapi.pcr.uu.se"
#: GED release asked for unless told otherwise (UCDP's yearly release; candidate releases look like 25.0.9).
DEFAULT_VERSION = "25.1"
EVENTS_PATH = "/api/gedevents/{version}"
#: Largest ``pagesize`` UCDP accepts.
MAX_PAGE_SIZE = 1000
#: Requests UCDP allows one token per day.
DAILY_REQUEST_QUOTA = 5000
TOKEN_HEADER = "x-ucdp-access-token"
TOKEN_ENV = "UCDP_ACCESS_TOKEN"
#: Gleditsch-Ward country codes (what the API's ``Country`` filter takes) of the ISO3 codes Vigie knows.
GW_CODES: dict[str, int] = {"MLI": 432, "BFA": 439, "NER": 436}

_MASK = "***"
_VERSION_PATTERN = re.compile(r"\d+(\.\d+)+")


class UcdpApiError(RuntimeError):
    """The UCDP API refused a request or kept failing. The message names the request, never the token."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class UcdpVersionError(ValueError):
    """A GED version that is not of the form UCDP publishes (e.g. 25.1): nothing is requested."""


@dataclass(frozen=True, repr=False)
class UcdpCredentials:
    """A UCDP API access token (UCDP issues them on request: https://ucdp.uu.se/apidocs/)."""

    token: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UcdpCredentials | None:
        """Read ``UCDP_ACCESS_TOKEN`` (surrounding blanks dropped); None when it is unset or empty."""
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_ENV, "").strip()
        return cls(token=token) if token else None

    def __repr__(self) -> str:
        return f"UcdpCredentials(token={_MASK!r})"

    __str__ = __repr__


def gw_code(country: int | str) -> int:
    """The Gleditsch-Ward code for ``country``: a GW code as such (432), or an ISO3 code of :data:`GW_CODES`.

    Raises :class:`UcdpApiError` (before any request) for anything else.
    """
    if isinstance(country, (int, np.integer)) and not isinstance(country, (bool, np.bool_)) and country > 0:
        return int(country)
    if isinstance(country, str) and country.strip().upper() in GW_CODES:
        return GW_CODES[country.strip().upper()]
    raise UcdpApiError(f"no Gleditsch-Ward country code known for {country!r}: pass the code itself "
                       f"(Mali = 432) or one of the ISO3 codes {', '.join(GW_CODES)}")


class UcdpClient:
    """Talks to UCDP's GED API with one access token. Use as a context manager, or call :meth:`close`.

    ``transport`` lets tests serve recorded responses (``httpx.MockTransport``); ``sleep`` and ``clock``
    (Unix seconds, used to read an HTTP-date ``Retry-After``) are injected so that backoff is tested
    without waiting. ``max_retries`` is the number of retries after the first attempt of each request.
    """

    def __init__(
        self,
        credentials: UcdpCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
        transport: httpx.BaseTransport | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_retries: int = 3,
        backoff_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        if not isinstance(credentials, UcdpCredentials) or not credentials.token:
            raise ValueError(f"a UCDP access token is required (set {TOKEN_ENV})")
        if not _VERSION_PATTERN.fullmatch(version):
            raise UcdpVersionError(f"--ucdp-version: not a GED version: {version!r} (expected e.g. {DEFAULT_VERSION!r})")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self._credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.page_size = page_size
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=REQUEST_TIMEOUT_SECONDS)

    def __repr__(self) -> str:
        return f"UcdpClient(version={self.version!r}, base_url={self.base_url!r})"

    def __enter__(self) -> UcdpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def label(self) -> str:
        """Names the data set in messages and as the ingest's ``source_file``: ``UCDP API gedevents 25.1``."""
        return f"UCDP API gedevents {self.version}"

    # ----------------------------------------------------------------- public queries

    def fetch_events(self, country_gw: int | str, start: date, end: date) -> pd.DataFrame:
        """Every GED event of the country in [start, end] (UCDP's StartDate/EndDate filter) as the event table.

        ``country_gw`` is a Gleditsch-Ward code (Mali = 432); an ISO3 code of :data:`GW_CODES` is accepted
        too. Returns exactly what :func:`features.sources.ucdp.read_ucdp_ged` returns for the same events
        in a CSV, in the API's order. Raises :class:`UcdpApiError` when the API refuses or keeps failing,
        :class:`features.schema.SourceFileError` (page, record, field) when a record is malformed.
        """
        records, where = self._fetch(country_gw, start, end)
        events = self._normalize(records, where)
        logger.info("%s: %d events for country %d dated %s to %s", self.label, len(events), gw_code(country_gw),
                    _day(start), _day(end))
        return events

    def fetch_records(self, country_gw: int | str, start: date, end: date) -> list[dict]:
        """The raw GED records (JSON objects as the API sent them) behind :meth:`fetch_events`."""
        return self._fetch(country_gw, start, end)[0]

    # ----------------------------------------------------------------- paging

    def _fetch(self, country_gw: int | str, start: date, end: date) -> tuple[list[dict], list[tuple[int, int]]]:
        """Records of every page, and for each the (page, 1-based position in that page) it came from."""
        first, last = _day(start), _day(end)
        if first > last:
            raise ValueError(f"start {first} is after end {last}")
        params = {"Country": gw_code(country_gw), "StartDate": first.isoformat(), "EndDate": last.isoformat()}
        records: list[dict] = []
        where: list[tuple[int, int]] = []
        total_count = total_pages = None
        previous: list[dict] | None = None
        page = 0
        while total_pages is None or page < total_pages:
            label = self._page_label(page)
            count, pages, rows = self._get_page({"pagesize": self.page_size, "page": page, **params}, label)
            if total_pages is None:
                if pages > DAILY_REQUEST_QUOTA:
                    raise UcdpApiError(f"{label}: {pages} pages of {self.page_size} events would exceed the "
                                       f"daily quota of {DAILY_REQUEST_QUOTA:,} requests; narrow the period")
                total_count, total_pages = count, pages
            elif (count, pages) != (total_count, total_pages):
                raise UcdpApiError(f"{label}: the result changed while paging (TotalCount {total_count} -> "
                                   f"{count}, TotalPages {total_pages} -> {pages})")
            logger.info("%s: %d events (page %d of %d, %d events in all)", label, len(rows), page + 1,
                        total_pages, total_count)
            if rows and rows == previous:
                raise UcdpApiError(f"{label} repeats page {page - 1}: the API is not paging")
            records.extend(rows)
            where.extend((page, position) for position in range(1, len(rows) + 1))
            if not rows:
                break
            previous = rows
            page += 1
        if len(records) != total_count:
            raise UcdpApiError(f"{self.label}: received {len(records)} events where the API announced "
                               f"TotalCount {total_count} ({total_pages} pages); the pull is incomplete")
        return records, where

    def _page_label(self, page: int) -> str:
        return f"{self.label}, page {page}"

    def _get_page(self, params: Mapping[str, Any], label: str) -> tuple[int, int, list[dict]]:
        """GET one page: (TotalCount, TotalPages, Result)."""
        response = self._send(EVENTS_PATH.format(version=self.version), label, params=params)
        status = response.status_code
        if status in (401, 403):
            raise UcdpApiError(
                f"{label}: HTTP {status}, UCDP refused the access token{self._server_says(response)}; set "
                f"{TOKEN_ENV} to a valid UCDP API token (UCDP issues them on request: https://ucdp.uu.se/apidocs/)",
                status_code=status,
            )
        if response.is_error:
            raise UcdpApiError(f"{label}: HTTP {status}{self._server_says(response)}", status_code=status)
        try:
            body = response.json()
        except ValueError:
            raise UcdpApiError(f"{label}: response is not JSON") from None
        if not isinstance(body, dict):
            raise UcdpApiError(f"{label}: expected a JSON object, got {type(body).__name__}")
        rows = body.get("Result")
        if not isinstance(rows, list):
            raise UcdpApiError(f"{label}: the answer has no 'Result' list")
        for position, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise UcdpApiError(f"{label}: record {position} is a {type(row).__name__}, not a JSON object")
        counts = []
        for name in ("TotalCount", "TotalPages"):
            value = body.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UcdpApiError(f"{label}: '{name}' is not a count: {_shorten(self._scrub(repr(value)))}")
            counts.append(value)
        return counts[0], counts[1], rows

    # ----------------------------------------------------------------- normalisation

    def _normalize(self, records: list[dict], where: list[tuple[int, int]]) -> pd.DataFrame:
        """Records as the event table, through the CSV parser; errors name the page and the record in it."""
        if records:
            # Text cells, as a CSV delivers them, whatever JSON types the API chose; dtype=object keeps each
            # value as the JSON had it (no int -> float widening of a column that has a null).
            raw = pd.DataFrame(records, dtype=object).astype("string")
        else:
            raw = pd.DataFrame({column: pd.Series(dtype="string") for column in REQUIRED_COLUMNS})
        try:
            return normalize_ucdp_frame(raw, file=self.label, lines=np.arange(1, len(raw) + 1))
        except SourceFileError as exc:
            if exc.row is None or not 1 <= exc.row <= len(where):
                raise
            page, position = where[exc.row - 1]
            problem = _ROWS_NOTE.sub(lambda match: _rows_in_pages(match, where), exc.problem)
            raise SourceFileError(self._page_label(page), position, exc.column, problem) from None

    # ----------------------------------------------------------------- transport, retries, secrets

    def _send(self, path: str, label: str, *, params: Mapping[str, Any]) -> httpx.Response:
        """One GET with the token header, retried on 429, 5xx and transport errors; other statuses returned."""
        return send_with_retries(
            lambda: self._http.get(path, params=params, headers={TOKEN_HEADER: self._credentials.token}), label,
            attempts=self.max_retries + 1, backoff_seconds=self.backoff_seconds, sleep=self._sleep,
            clock=self._clock, logger=logger,
            rate_limit_note=f" (rate limited; UCDP allows {DAILY_REQUEST_QUOTA:,} requests a day)",
            fail=lambda message, status: UcdpApiError(message, status_code=status))

    def _scrub(self, text: str) -> str:
        return text.replace(self._credentials.token, _MASK)

    def _server_says(self, response: httpx.Response) -> str:
        """The server's own error text, shortened and scrubbed of the token, as ': ...' (or '')."""
        try:
            body = response.json()
        except ValueError:
            body = response.text
        detail: Any = body
        if isinstance(body, dict):
            detail = body.get("message") or body.get("Message") or body.get("error") or body.get("title")
        if not detail or not isinstance(detail, (str, int, float, dict, list)):
            return ""
        return f": {_shorten(self._scrub(str(detail).strip()))}"


#: How features.validation names both rows of a duplicated id: "(rows 3 and 1)".
_ROWS_NOTE = re.compile(r"\(rows (\d+(?:(?:, | and )\d+)*)\)")


def _rows_in_pages(match: re.Match, where: list[tuple[int, int]]) -> str:
    """"(rows 3 and 1)" (record numbers across the pull) as "(page 1, record 1 and page 0, record 1)"."""
    rows = [int(n) for n in re.findall(r"\d+", match.group(1))]
    if not all(1 <= n <= len(where) for n in rows):
        return match.group(0)
    return "(" + " and ".join("page {}, record {}".format(*where[n - 1]) for n in rows) + ")"


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value
