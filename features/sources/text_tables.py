"""Reading event files (CSV or xlsx) as all-text tables: the only file I/O of the source parsers.

Every cell comes back as a nullable string (``pd.NA`` for an empty cell) so that each parser decides
how to read numbers and dates and can name the exact cell it cannot read. The first line (row) of the
file is the header, so the first data row is file line 2. CSV files are read as UTF-8, with or without
a byte-order mark; xlsx files are recognised by their content (a zip archive), not their name, and
only their first sheet is read.

A file that cannot be read is a :class:`~features.schema.SourceFileError`, never a traceback, and names
the row (file line) and column whenever the fault has one:

* a byte that is not UTF-8 (a Latin-1 or Windows-1252 file): the line and column of that byte;
  UTF-16 text (byte-order mark, or NUL bytes on the header line) and binary junk: the whole file;
* a row with fewer or more cells than the header (a truncated line, extra cells, a second header of
  another schema pasted below the first): that row, and the first cell past the header's end (or
  the first missing column);
* a cell longer than :data:`MAX_CELL_CHARS` characters: its row and column (no ACLED or UCDP field
  comes near; a longer one is a broken file, and would only exhaust the parser);
* a zip archive that is not an xlsx workbook (an exported ``.zip``), or a damaged workbook.

Two things some export tools write are read as they come. A CSV file where **every** data row has one
cell more than the header and that last cell is empty in every row (a separator written after the last
field, as UCDP's download tool does) is read with the header's columns and the empty last cell dropped;
if only some rows have it, or any of those cells is filled, it is the "extra cells" error above. Quoted
cells may hold line breaks; :func:`read_text_records` gives the file line where each record starts.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import SourceFileError

_ZIP_MAGIC = b"PK\x03\x04"
#: Longest cell accepted, in characters (ACLED notes run to a few thousand; Excel cells stop at 32,767).
MAX_CELL_CHARS = 100_000
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_NOT_UTF8 = "not a UTF-8 CSV file nor an xlsx workbook"
#: Separators other than the comma that a one-column header betrays.
_OTHER_DELIMITERS = (";", "\t", "|")


def is_xlsx(path: str | Path) -> bool:
    """True when the file is a zip archive, i.e. an xlsx workbook rather than a CSV file."""
    with open(path, "rb") as handle:
        return handle.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


def delimiter_hint(columns: list[str]) -> str | None:
    """Why a header read as comma-separated came out as one column holding another separator; else None.

    ``columns`` are the header's column names. A single column holding ';', a tab or '|' (checked in
    that order) gives e.g. "the header is one cell holding ';': the file is separated by ';', but Vigie
    reads comma-separated files"; any other header gives None.
    """
    if len(columns) != 1:
        return None
    separator = next((d for d in _OTHER_DELIMITERS if d in str(columns[0])), None)
    if separator is None:
        return None
    shown = "a tab" if separator == "\t" else f"'{separator}'"
    return (f"the header is one cell holding {shown}: the file is separated by {shown}, "
            "but Vigie reads comma-separated files")


def _check_workbook(path: str | Path) -> None:
    """Raise SourceFileError unless the zip archive at ``path`` is (the skeleton of) an xlsx workbook."""
    file = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceFileError(file, None, None, f"a damaged xlsx workbook or zip archive ({exc}); "
                              "save it again from the spreadsheet, or export it as CSV") from None
    if "xl/workbook.xml" not in names:
        held = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise SourceFileError(file, None, None, f"a zip archive, not an xlsx workbook (it holds: {held or 'nothing'}); "
                              "extract the CSV or xlsx export from it and ingest that file")


def _read_workbook(path: str | Path, read):
    """``read(path)`` on a checked workbook; whatever openpyxl raises on a damaged one becomes one clear line."""
    _check_workbook(path)
    try:
        return read(path)
    except SourceFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl/zipfile/XML errors of a damaged workbook share no base class
        raise SourceFileError(str(path), None, None, f"a damaged xlsx workbook ({type(exc).__name__}: {exc}); "
                              "save it again from the spreadsheet, or export it as CSV") from None


def _first_header_row(path: str | Path) -> tuple:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        return next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True), ())
    finally:
        workbook.close()


def _header_line(path: str | Path) -> bytes:
    """The raw bytes of the file's first line (without its end of line)."""
    with open(path, "rb") as handle:
        return handle.readline().rstrip(b"\r\n")


def _check_text_encoding(path: str | Path, first_line: bytes) -> None:
    """UTF-16 text and binary files are whole-file errors, told apart by the start of the file."""
    file = str(path)
    if first_line.startswith(_UTF16_BOMS):
        raise SourceFileError(file, None, None, f"{_NOT_UTF8}: UTF-16 text (byte-order mark); save it as UTF-8 CSV")
    if b"\x00" in first_line:
        raise SourceFileError(file, None, None, f"{_NOT_UTF8}: NUL bytes on the header line (UTF-16 text or a "
                              "binary file); save it as UTF-8 CSV")


def read_header(path: str | Path) -> list[str]:
    """Column names on the first line (row) of a CSV or xlsx file, as written (not stripped)."""
    file = str(path)
    if is_xlsx(path):
        first = _read_workbook(path, _first_header_row)
        return [str(cell) for cell in first if cell is not None]
    line = _header_line(path)
    _check_text_encoding(path, line)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _encoding_error(file, line, exc, 1, []) from None
    try:
        return next(csv.reader([text]), [])
    except csv.Error as exc:
        raise SourceFileError(file, 1, None, f"the header line cannot be read as CSV ({exc})") from None


def _encoding_error(file: str, line_bytes: bytes, exc: UnicodeDecodeError, line: int, header: list[str]) -> SourceFileError:
    """The error for a byte that is not UTF-8 at ``exc.start`` of ``line_bytes`` (file line ``line``)."""
    before = line_bytes[: exc.start].decode("utf-8", errors="replace")
    try:
        cell = len(next(csv.reader([before]), [""])) - 1
    except csv.Error:
        cell = -1
    column = header[cell] if 0 <= cell < len(header) else None
    byte = line_bytes[exc.start]
    return SourceFileError(file, line, column, f"{_NOT_UTF8}: byte 0x{byte:02x} is not UTF-8 ({exc.reason}); "
                           "a Latin-1 or Windows-1252 file? save it as UTF-8")


def _cell_too_long(file: str, line: int, column: str | None, length: int) -> SourceFileError:
    return SourceFileError(file, line, column, f"a cell of {length:,} characters; the limit is "
                           f"{MAX_CELL_CHARS:,} (features.sources.text_tables.MAX_CELL_CHARS): a broken file?")


def _looks_like_header(cells: list[str], header: list[str]) -> bool:
    names = {cell.strip().lower() for cell in cells}
    return len(names & {name.strip().lower() for name in header}) >= min(3, len(header))


def _ragged_row(file: str, line: int, cells: list[str], header: list[str]) -> SourceFileError:
    if len(cells) > len(header):
        column, what = None, f"extra cells: cell {len(header) + 1} and after have no column"
    else:
        column, what = header[len(cells)], "a truncated line?"
    if _looks_like_header(cells, header):
        what = "it looks like a second header line: two files of different schemas joined?"
        column = None
    return SourceFileError(file, line, column, f"{len(cells)} cells but the header (row 1) has {len(header)} ({what})")


def _diagnose(path: str | Path) -> SourceFileError | None:
    """Find, with the (slow, exact) csv module, the first row and column a fast read choked on; None if none.

    Only run after the fast reader failed: reads the whole file. Row numbers are the file lines where
    each record starts, so they stay right when quoted cells hold line breaks.
    """
    file = str(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        line_bytes = data[start: len(data) if end < 0 else end]
        local = UnicodeDecodeError(exc.encoding, line_bytes, exc.start - start, exc.end - start, exc.reason)
        header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")]), [])
        return _encoding_error(file, line_bytes, local, data.count(b"\n", 0, exc.start) + 1, header)
    limit = csv.field_size_limit()
    csv.field_size_limit(max(len(text), limit))
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        previous = reader.line_num
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if not cells:
                continue
            for position, cell in enumerate(cells):
                if len(cell) > MAX_CELL_CHARS:
                    return _cell_too_long(file, line, header[position] if position < len(header) else None, len(cell))
            if len(cells) != len(header):
                return _ragged_row(file, line, cells, header)
    except csv.Error as exc:
        return SourceFileError(file, reader.line_num, None, f"cannot be read as CSV: {exc}")
    finally:
        csv.field_size_limit(limit)
    return None


def _check_cell_sizes(table: pd.DataFrame, file: str) -> None:
    """Raise SourceFileError at the first cell (in file order) longer than MAX_CELL_CHARS."""
    lengths = pd.DataFrame({i: table.iloc[:, i].str.len() for i in range(table.shape[1])})
    too_long = (lengths > MAX_CELL_CHARS).fillna(False)
    if too_long.to_numpy().any():
        row = int(too_long.any(axis=1).to_numpy().argmax())
        position = int(too_long.iloc[row].to_numpy().argmax())
        raise _cell_too_long(file, row + 2, str(table.columns[position]), int(lengths.iat[row, position]))


def _excel_table(path: str | Path) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False, na_values=[""])


_TRAILING = "\x00trailing field"


def _read_with_trailing_field(path: str | Path) -> pd.DataFrame | None:
    """The CSV table when every data row ends with one extra, always empty cell (dropped); else None."""
    header = read_header(path)
    if not header or len(set(header)) != len(header) or _TRAILING in header:
        return None
    try:
        table = pd.read_csv(path, dtype="string", engine="pyarrow", keep_default_na=False, na_values=[""],
                            header=None, skiprows=1, names=[*header, _TRAILING])
    except (UnicodeDecodeError, pa.ArrowInvalid, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    if table.empty or table[_TRAILING].notna().any():
        return None
    return table.drop(columns=_TRAILING)


def read_text_records(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`read_text_table` and, for each row, the file line (header = line 1) where its record starts.

    In a CSV file a record whose quoted cells hold line breaks spans several lines, so the next record
    starts that many lines further on (line breaks are counted as ``\\n``; blank lines between records,
    which the reader skips, are not counted). In an xlsx workbook a row is one record: row i is line i + 2.
    """
    table = read_text_table(path)
    first = np.arange(len(table), dtype="int64") + 2
    if is_xlsx(path) or table.empty:
        return table, first
    breaks = np.zeros(len(table), dtype="int64")
    for column in range(table.shape[1]):
        breaks += table.iloc[:, column].str.count("\n").fillna(0).to_numpy(dtype="int64")
    return table, first + np.concatenate([[0], np.cumsum(breaks)[:-1]])


def read_text_table(path: str | Path) -> pd.DataFrame:
    """The whole first table of a CSV or xlsx file, every cell a nullable string (empty cell -> NA).

    Only empty cells are missing: texts such as "NA" or "null" are kept as written. Raises
    SourceFileError (see the module docstring) for a file that cannot be read.
    """
    file = str(path)
    if is_xlsx(path):
        table = _read_workbook(path, _excel_table).astype("string")
        _check_cell_sizes(table, file)
        return table
    _check_text_encoding(path, _header_line(path))
    try:
        table = pd.read_csv(path, dtype="string", engine="pyarrow", keep_default_na=False, na_values=[""])
    except (UnicodeDecodeError, pa.ArrowInvalid, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        trailing = _read_with_trailing_field(path)
        if trailing is not None:
            return _checked(trailing, path)
        found = _diagnose(path)
        if found is not None:
            raise found from None
        raise SourceFileError(file, None, None, f"cannot be read as a table: {exc}") from None
    return _checked(table, path)


def _checked(table: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    table = table.astype("string")
    if Path(path).stat().st_size > MAX_CELL_CHARS:  # else no cell can be longer (UTF-8: a character >= 1 byte)
        _check_cell_sizes(table, str(path))
    return table
