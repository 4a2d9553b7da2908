"""Recognise an event file by its header and read it with the matching parser."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.schema import SourceFileError
from features.sources.acled_files import read_acled_export
from features.sources.text_tables import read_header
from features.sources.ucdp import read_ucdp_ged

#: Header columns that identify each format (compared ignoring case and surrounding blanks).
ACLED_HEADER: tuple[str, ...] = ("event_id_cnty", "event_date", "event_type")
UCDP_HEADER: tuple[str, ...] = ("id", "type_of_violence", "date_start", "best")


def read_events(path: str | Path) -> pd.DataFrame:
    """Read an ACLED export or a UCDP GED file (CSV or xlsx) into the validated event table.

    The format is told from the header line alone; see features.sources.acled_files and
    features.sources.ucdp for what each accepts. A file that is neither raises SourceFileError
    naming the file and the header columns expected.
    """
    header = {str(name).strip().lower() for name in read_header(path)}
    if set(ACLED_HEADER) <= header:
        return read_acled_export(path)
    if set(UCDP_HEADER) <= header:
        return read_ucdp_ged(path)
    found = ", ".join(sorted(header)[:12]) + (", ..." if len(header) > 12 else "")
    raise SourceFileError(
        str(path),
        None,
        None,
        "unknown event file format: expected an ACLED export (header with "
        f"{', '.join(ACLED_HEADER)}) or a UCDP GED file (header with {', '.join(UCDP_HEADER)}); "
        f"found header: {found or '(empty)'}",
    )
