"""The one place secrets are masked before anything is logged, stored or printed."""

from __future__ import annotations

import re


def redact_url(url: str) -> str:
    """``scheme://user:secret@host/db`` -> ``scheme://user:***@host/db`` and ``password=secret`` (also token,
    secret, pwd) query or libpq parameters -> ``password=***``; other strings unchanged."""
    url = re.sub(r"(://[^/?#@]*?):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)((?:password|passwd|pwd|token|secret)=)[^&;\s]*", r"\1***", url)
