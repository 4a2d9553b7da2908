"""UCDP GED API client: every GED event of a country and period, normalised like a UCDP CSV.

``GET https://ucdpapi.pcr.uu.se/api/gedevents/<version>?pagesize=1000&page=<n>&Country=<GW code>&StartDate=
YYYY-MM-DD&EndDate=YYYY-MM-DD`` answers ``{"TotalCount", "TotalPages", "NextPageUrl", "Result": [...]}``; each
result holds the GED fields of UCDP's CSV (``best/high/low``, ISO dates such as ``2021-03-05T00:00:00``).
Pages are 0-based and at most :data:`MAX_PAGE_SIZE` events. The API requires an access token in the
``x-ucdp-access-token`` header (UCDP's documentation); it comes from ``UCDP_ACCESS_TOKEN`` and never reaches a
log, an error, a URL or the returned events. The quota is 5,000 requests a day, errors included: a 429 is
waited out (``Retry-After``, capped) and 5xx answers are retried a few times before a clear error.

The records go through :func:`features.sources.ucdp.normalize_ucdp_frame`, the CSV parser's own rules
(multi-day events on ``date_start``, region- and country-level events unassigned with reasons), so an API
pull and the same events downloaded as CSV give the same event table. Errors name the page and the record
(1-based within the pull) instead of a file line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import httpx
import numpy as np
import pandas as pd

from features.sources.acled_api import _retry_after_seconds
from features.sources.ucdp import REQUIRED_COLUMNS, normalize_ucdp_frame

DEFAULT_BASE_URL = "https://ucdpapi.pcr.uu.se"
#: GED version the client asks for unless told otherwise (UCDP's yearly release).
DEFAULT_VERSION = "25.1"
MAX_PAGE_SIZE = 1000
TOKEN_HEADER = "x-ucdp-access-token"
TOKEN_ENV = "UCDP_ACCESS_TOKEN"
#: Gleditsch-Ward codes of the countries Vigie knows (the API filters on these, not ISO codes).
GW_CODES: dict[str, int] = {"MLI": 432, "BFA": 439, "NER": 436}
MAX_ATTEMPTS = 4
MAX_RETRY_WAIT_SECONDS = 900.0
REQUEST_TIMEOUT_SECONDS = 120.0


class UcdpApiError(RuntimeError):
    """The UCDP API refused a request or kept failing. The message names the request, never the token."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, repr=False)
class UcdpCredentials:
    """A UCDP API access token."""

    token: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UcdpCredentials | None:
        token = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
        return cls(token) if token else None

    def __repr__(self) -> str:
        return "UcdpCredentials(token=***)"


class UcdpClient:
    """Pages through UCDP's GED API. ``transport`` serves recorded responses in tests; ``sleep`` is injected
    so backoff is tested without waiting."""

    def __init__(self, credentials: UcdpCredentials, *, base_url: str = DEFAULT_BASE_URL,
                 version: str = DEFAULT_VERSION, page_size: int = MAX_PAGE_SIZE,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.version, self.page_size, self._sleep = version, page_size, sleep
        self._http = httpx.Client(base_url=base_url, transport=transport, timeout=REQUEST_TIMEOUT_SECONDS,
                                  headers={TOKEN_HEADER: credentials.token})

    def __repr__(self) -> str:
        return f"UcdpClient(version={self.version!r}, base_url={str(self._http.base_url)!r})"

    def __enter__(self) -> UcdpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def label(self) -> str:
        return f"UCDP API gedevents {self.version}"

    def fetch_records(self, country_iso3: str, start: date, end: date) -> list[dict]:
        """Every GED record of the country with ``date_start`` in [start, end], in the API's order."""
        if country_iso3 not in GW_CODES:
            raise UcdpApiError(f"{self.label}: no Gleditsch-Ward code known for {country_iso3!r} "
                               f"(known: {', '.join(GW_CODES)})")
        params = {"pagesize": self.page_size, "Country": GW_CODES[country_iso3],
                  "StartDate": start.isoformat(), "EndDate": end.isoformat()}
        records: list[dict] = []
        page, pages = 0, 1
        while page < pages:
            body = self._get_page(params | {"page": page})
            pages = int(body.get("TotalPages") or 0)
            records.extend(body["Result"])
            page += 1
        return records

    def fetch_events(self, country_iso3: str, start: date, end: date) -> pd.DataFrame:
        """The events as :func:`features.sources.ucdp.read_ucdp_ged` returns them from a CSV."""
        records = self.fetch_records(country_iso3, start, end)
        raw = (pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=list(REQUIRED_COLUMNS)))
        raw = raw.astype("string")
        return normalize_ucdp_frame(raw, file=f"{self.label} record", lines=np.arange(1, len(raw) + 1))

    def _get_page(self, params: Mapping[str, object]) -> dict:
        where = f"{self.label} page {params['page']}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._http.get(f"/api/gedevents/{self.version}", params=params)
            except httpx.HTTPError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise UcdpApiError(f"{where}: no answer after {attempt} attempts ({type(exc).__name__})") from None
                self._sleep(2.0 ** attempt)
                continue
            status = response.status_code
            if status in (401, 403):
                raise UcdpApiError(f"{where}: the access token was refused (HTTP {status}); set {TOKEN_ENV} to a "
                                   "valid UCDP API token", status_code=status)
            if status == 429 or status >= 500:
                if attempt == MAX_ATTEMPTS:
                    raise UcdpApiError(f"{where}: HTTP {status} after {attempt} attempts"
                                       + (" (the daily quota is 5,000 requests)" if status == 429 else ""),
                                       status_code=status)
                wait = _retry_after_seconds(response, time.time()) if status == 429 else None
                self._sleep(min(wait if wait is not None else 2.0 ** attempt, MAX_RETRY_WAIT_SECONDS))
                continue
            if status != 200:
                raise UcdpApiError(f"{where}: HTTP {status}", status_code=status)
            try:
                body = response.json()
            except ValueError:
                raise UcdpApiError(f"{where}: the answer is not JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("Result"), list):
                raise UcdpApiError(f"{where}: the answer has no 'Result' list")
            return body
        raise AssertionError("unreachable")
