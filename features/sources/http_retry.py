"""Retrying one HTTP request the way both API clients (ACLED, UCDP) need: on HTTP 429, 5xx and transport
errors, waiting ``Retry-After`` when the server sends one, else ``backoff_seconds * 2**n`` seconds, never
more than :data:`MAX_RETRY_WAIT_SECONDS`; any other status is returned as it is for the caller to judge."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

#: Longest wait between two attempts, whether from backoff or from ``Retry-After``.
MAX_RETRY_WAIT_SECONDS = 900.0
REQUEST_TIMEOUT_SECONDS = 120.0


def retry_after_seconds(response: httpx.Response, now: float) -> float | None:
    """``Retry-After`` as seconds to wait: an integer, or an HTTP date. None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def send_with_retries(send: Callable[[], httpx.Response], label: str, *, attempts: int, backoff_seconds: float,
                      sleep: Callable[[float], None], clock: Callable[[], float],
                      fail: Callable[[str, int | None], Exception], logger: logging.Logger,
                      rate_limit_note: str = "") -> httpx.Response:
    """``send()`` until it answers with a status other than 429 or 5xx, at most ``attempts`` times.

    ``fail(message, last status or None)`` builds the error raised when every attempt failed;
    ``rate_limit_note`` is appended to the reason of a 429 (e.g. the API's daily quota).
    """
    attempt = 1
    while True:
        status: int | None = None
        wait: float | None = None
        try:
            response = send()
        except httpx.TransportError as exc:
            reason = type(exc).__name__
        else:
            status = response.status_code
            if status != 429 and status < 500:
                return response
            reason = f"HTTP {status}" + (rate_limit_note if status == 429 else "")
            wait = retry_after_seconds(response, clock())
        if attempt == attempts:
            raise fail(f"{label}: gave up after {attempts} attempts, the last one failed with {reason}", status)
        if wait is None:
            wait = backoff_seconds * 2 ** (attempt - 1)
        wait = min(wait, MAX_RETRY_WAIT_SECONDS)
        logger.warning("%s: %s, retrying in %.1f s (attempt %d of %d)", label, reason, wait, attempt + 1, attempts)
        sleep(wait)
        attempt += 1
