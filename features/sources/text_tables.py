"""Reading event files (CSV or xlsx) as all-text tables: the only file I/O of the source parsers.

Every cell comes back as a nullable string (``pd.NA`` for an empty cell) so that each parser decides
how to read numbers and dates and can name the exact cell it cannot read. The first line (row) of the
file is the header, so the first data row is file line 2. CSV files are read as UTF-8, with or without
a byte-order mark; xlsx files are recognised by their content (a zip archive), not their name, and
only their first sheet is read.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.schema import SourceFileError

_ZIP_MAGIC = b"PK\x03\x04"


def is_xlsx(path: str | Path) -> bool:
    """True when the file is a zip archive, i.e. an xlsx workbook rather than a CSV file."""
    with open(path, "rb") as handle:
        return handle.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


def read_header(path: str | Path) -> list[str]:
    """Column names on the first line (row) of a CSV or xlsx file, as written (not stripped)."""
    file = str(path)
    if is_xlsx(path):
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            first = next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True), ())
        finally:
            workbook.close()
        return [str(cell) for cell in first if cell is not None]
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        raise SourceFileError(file, 1, None, f"not a UTF-8 CSV file nor an xlsx workbook ({exc.reason})") from exc


def read_text_table(path: str | Path) -> pd.DataFrame:
    """The whole first table of a CSV or xlsx file, every cell a nullable string (empty cell -> NA).

    Only empty cells are missing: texts such as "NA" or "null" are kept as written.
    """
    file = str(path)
    try:
        if is_xlsx(path):
            table = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False, na_values=[""])
        else:
            table = pd.read_csv(path, dtype="string", engine="pyarrow", keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as exc:
        raise SourceFileError(file, None, None, f"not a UTF-8 CSV file nor an xlsx workbook ({exc.reason})") from exc
    except (pa.ArrowInvalid, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise SourceFileError(file, None, None, f"cannot be read as a table: {exc}") from exc
    return table.astype("string")
