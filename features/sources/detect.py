"""Recognise an event file by its header and read it with the matching parser.

Also the checks on the file arguments of ``vigie ingest`` (:func:`check_input_files`), so that a path
that does not exist or is a folder is a :class:`~features.schema.SourceFileError` like any other bad
input (exit 2, one JSON line with ``--json``) rather than a usage error of the command-line parser.

A file whose header is right but that holds no event row (header only, or header and HXL hashtag
row) is an error, "no event rows": an export that came out empty is almost always a wrong filter or
a truncated download, and must not pass as a successful ingest of nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from features.schema import SourceFileError
from features.sources.acled_files import read_acled_export
from features.sources.text_tables import delimiter_hint, read_header
from features.sources.ucdp import read_ucdp_ged

#: Header columns that identify each format (compared ignoring case and surrounding blanks).
ACLED_HEADER: tuple[str, ...] = ("event_id_cnty", "event_date", "event_type")
UCDP_HEADER: tuple[str, ...] = ("id", "type_of_violence", "date_start", "best")
#: Other names a UCDP header may give a column of UCDP_HEADER (UCDP's download tool writes best_est).
UCDP_HEADER_ALTERNATIVES: dict[str, tuple[str, ...]] = {"best": ("best_est",)}


def check_input_files(paths: Sequence[str | Path] | None) -> list[Path]:
    """The given paths as Paths, after checking that each names a readable file.

    Raises SourceFileError naming the path when it does not exist, is a folder or cannot be read,
    and (with file "vigie ingest") when no path is given at all.
    """
    if not paths:
        raise SourceFileError("vigie ingest", None, None, "no event file given: pass one or more ACLED export "
                              "(CSV or xlsx) or UCDP GED files")
    checked = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            raise SourceFileError(str(path), None, None, "is a folder, not an event file")
        if not path.exists():
            raise SourceFileError(str(path), None, None, "no such file")
        if not os.access(path, os.R_OK):
            raise SourceFileError(str(path), None, None, "cannot be read (permission denied)")
        checked.append(path)
    return checked


def _unknown_format(file: str, columns: list[str]) -> SourceFileError:
    header = {str(name).strip().lower() for name in columns}
    expected = (f"expected an ACLED export (header with {', '.join(ACLED_HEADER)}) or a UCDP GED file "
                f"(header with {', '.join(UCDP_HEADER)} or best_est)")
    if not header or header == {""}:
        return SourceFileError(file, None, None, f"empty file (no header line): {expected}")
    hint = delimiter_hint(columns)
    if hint is not None:
        return SourceFileError(file, 1, None, f"{hint}; {expected}")
    found = ", ".join(sorted(header)[:12]) + (", ..." if len(header) > 12 else "")
    return SourceFileError(file, None, None, f"unknown event file format: {expected}; found header: {found}")


def is_ucdp_header(header: set[str]) -> bool:
    """True when the (lower-cased, stripped) header names every UCDP_HEADER column or an alternative name."""
    return all(name in header or any(other in header for other in UCDP_HEADER_ALTERNATIVES.get(name, ()))
               for name in UCDP_HEADER)


def read_events(path: str | Path) -> pd.DataFrame:
    """Read an ACLED export or a UCDP GED file (CSV or xlsx) into the validated event table.

    The format is told from the header line alone; see features.sources.acled_files and
    features.sources.ucdp for what each accepts. A file that is neither raises SourceFileError
    naming the file and the header columns expected; a file with no event row raises
    SourceFileError "no event rows".
    """
    columns = read_header(path)
    header = {str(name).strip().lower() for name in columns}
    if set(ACLED_HEADER) <= header:
        events = read_acled_export(path)
    elif is_ucdp_header(header):
        events = read_ucdp_ged(path)
    else:
        raise _unknown_format(str(path), columns)
    if events.empty:
        raise SourceFileError(str(path), None, None, "no event rows: the file has a header but no data row "
                              "(an empty export? check its filters, or the download)")
    return events
