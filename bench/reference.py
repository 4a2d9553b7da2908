"""Read the reference skill tables of ``../shared/reference/skill-reference.md`` into a tidy frame.

    from bench.reference import read_reference, best_rows
    ref = read_reference()                                    # every number of every table
    best_rows(ref, protocol=ACLED_PROTOCOL)                   # best row per metric and horizon
    best_rows(ref, protocol=ACLED_PROTOCOL, kind="peer")      # best of TSB, IMAPA, ADIDA, mlforecast

The file holds markdown tables whose first column is ``method`` and whose other columns are named
``<metric> h=<horizon>`` (``CRPS h=1``, ``Brier h=4``, ``AP h=1``), optionally prefixed by a period letter
(``V CRPS h=1``: period V of the UCDP table). Each table belongs to the protocol named last before it as
``protocol "<name>"`` (``mali-weekly-v1`` for the ACLED table, ``ucdp-mali-weekly-v1`` for UCDP). Other
tables and text are ignored. Lower is better for CRPS and Brier, higher for AP (average precision).

A method is a *peer* (an off-the-shelf forecasting library: statsforecast TSB / IMAPA / ADIDA / Croston,
mlforecast) or a *baseline* (zero, last week, rolling means, conflictology). This module only reads: it
computes nothing and holds no number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: Where the reference lives: ``../shared/reference/skill-reference.md`` relative to the repository.
DEFAULT_PATH = ROOT.parent / "shared" / "reference" / "skill-reference.md"
ACLED_PROTOCOL = "mali-weekly-v1"
UCDP_PROTOCOL = "ucdp-mali-weekly-v1"
COLUMNS = ("protocol", "table", "method", "label", "kind", "metric", "horizon", "period", "value", "line")
METRICS = {"crps": "min", "brier": "min", "ap": "max"}  #: metric -> which end is best
#: Methods that are peers (forecasting libraries), not baselines.
PEER_PATTERN = re.compile(r"statsforecast|mlforecast|\bTSB\b|\bIMAPA\b|\bADIDA\b|croston", re.IGNORECASE)

_PROTOCOL = re.compile(r'protocol\s+"([^"]+)"', re.IGNORECASE)
_HEADER = re.compile(r"^(?:(?P<period>[A-Za-z])\s+)?(?P<metric>crps|brier|ap)\s+h\s*=\s*(?P<h>\d+)$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?$")


class ReferenceError(ValueError):
    """The reference file is missing or a table in it cannot be read; the message names the file."""


def read_reference(path: Path | str | None = None) -> pd.DataFrame:
    """Every number of the reference file (default :data:`DEFAULT_PATH`) as a tidy frame.

    Columns: protocol (e.g. "mali-weekly-v1"; NA when the file names none before the table), table (the
    heading the table sits under), method (as written), label (method up to its first " (" or ","),
    kind ("peer" or "baseline"), metric ("crps", "brier", "ap"), horizon (int), period (the column's
    period letter, e.g. "V" or "T"; NA when the column has none), value (float), line (file line of the
    table row). Rows in file order. Raises :class:`ReferenceError` naming the file when it is absent
    or holds no reference table.
    """
    file = Path(path) if path is not None else DEFAULT_PATH
    if not file.is_file():
        raise ReferenceError(f"skill reference not found: {file} (expected ../shared/reference/skill-reference.md "
                             "beside the repository; pass another path to read it from elsewhere)")
    return parse_reference(file.read_text(encoding="utf-8"), source=str(file))


def parse_reference(text: str, source: str = "<text>") -> pd.DataFrame:
    """:func:`read_reference` on markdown text; ``source`` names it in error messages."""
    rows: list[dict] = []
    protocol: str | None = None
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        found = _PROTOCOL.findall(line)
        if found:
            protocol = found[-1]
        if line.startswith("|") and i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1].strip()):
            header = _cells(line)
            body_start = i + 2
            i = body_start
            while i < len(lines) and lines[i].strip().startswith("|"):
                i += 1
            if header and header[0].lower() == "method":
                rows += _table_rows(header, lines, body_start, i, protocol, heading, source)
            continue
        i += 1
    if not rows:
        raise ReferenceError(f"{source}: no reference table (a markdown table whose first column is 'method')")
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"protocol": "string", "table": "string", "method": "string", "label": "string",
                         "kind": "string", "metric": "string", "horizon": "int64", "period": "string",
                         "value": "float64", "line": "int64"})


def best_rows(frame: pd.DataFrame, *, protocol: str | None = None, kind: str | None = None,
              methods: list[str] | None = None) -> pd.DataFrame:
    """The best row per (protocol, period, metric, horizon): lowest CRPS / Brier, highest AP.

    ``protocol`` keeps one protocol; ``kind`` ("peer" or "baseline") one kind of method; ``methods`` only
    rows whose method or label is listed. A tie goes to the row written first. Columns as in
    :func:`read_reference`, sorted by protocol, period, metric, horizon.
    """
    sub = frame
    if protocol is not None:
        sub = sub[sub["protocol"] == protocol]
    if kind is not None:
        if kind not in ("peer", "baseline"):
            raise ValueError(f"kind must be 'peer' or 'baseline', got {kind!r}")
        sub = sub[sub["kind"] == kind]
    if methods is not None:
        sub = sub[sub["method"].isin(methods) | sub["label"].isin(methods)]
    if sub.empty:
        return sub.reset_index(drop=True)
    keys = ["protocol", "period", "metric", "horizon"]
    signed = sub["value"].where(sub["metric"].map(METRICS) == "min", -sub["value"])
    order = sub.assign(_signed=signed, _pos=range(len(sub))).sort_values([*keys, "_signed", "_pos"], na_position="first")
    best = order.groupby(keys, dropna=False, sort=True).head(1)
    return best.drop(columns=["_signed", "_pos"]).reset_index(drop=True)


def best_value(frame: pd.DataFrame, metric: str, horizon: int, *, protocol: str = ACLED_PROTOCOL,
               kind: str | None = None, period: str | None = None) -> pd.Series:
    """The single best row (a Series) for ``metric`` at ``horizon`` (see :func:`best_rows`); KeyError if none."""
    best = best_rows(frame, protocol=protocol, kind=kind)
    hit = best[(best["metric"] == metric) & (best["horizon"] == horizon)
               & (best["period"].isna() if period is None else best["period"] == period)]
    if hit.empty:
        raise KeyError(f"no reference row for {metric} h={horizon} (protocol {protocol}, kind {kind}, period {period})")
    return hit.iloc[0]


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip() for c in inner.split("|")]


def _table_rows(header: list[str], lines: list[str], start: int, stop: int, protocol: str | None,
                heading: str, source: str) -> list[dict]:
    columns = []
    for name in header[1:]:
        m = _HEADER.match(name)
        if m is None:
            raise ReferenceError(f"{source}, line {start - 1}: column {name!r} is not '<metric> h=<horizon>' "
                                 "(metric CRPS, Brier or AP, optionally after a period letter)")
        columns.append((m["metric"].lower(), int(m["h"]), m["period"].upper() if m["period"] else None))
    out = []
    for n in range(start, stop):
        cells = _cells(lines[n])
        if len(cells) != len(header):
            raise ReferenceError(f"{source}, line {n + 1}: {len(cells)} cells, the header has {len(header)}")
        method = cells[0]
        label = re.split(r" \(|,", method, maxsplit=1)[0].strip()
        kind = "peer" if PEER_PATTERN.search(method) else "baseline"
        for (metric, horizon, period), cell in zip(columns, cells[1:], strict=True):
            if cell in ("", "-", "—", "n/a"):
                continue
            try:
                value = float(cell.replace(",", ""))
            except ValueError:
                raise ReferenceError(f"{source}, line {n + 1}: {cell!r} ({method}, {metric} h={horizon}) is not a "
                                     "number") from None
            out.append({"protocol": protocol, "table": heading, "method": method, "label": label, "kind": kind,
                        "metric": metric, "horizon": horizon, "period": period, "value": value, "line": n + 1})
    return out
