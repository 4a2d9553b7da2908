"""The bad-input corpus of the reliability suite: tiny hand-made event files (never real ACLED data), each
ingested with the real `vigie ingest --json` into a home whose event store already holds good events.

For every case it records what the command did (exit code, the last JSON line, the message) and whether
both stores are as they were: the event store's file bytes and its full content read back (every row of
every table), and the score store's bytes (ingest never opens it). A case that must be rejected passes
when the command exits 2, its last line is ``{"ok": false, "error": ..., "error_type": ...}`` naming the
file (and, for a fault in one cell, its row and column), and nothing changed. A case that must be
accepted (injection strings in names and notes) passes when it exits 0 and its texts are stored verbatim,
the earlier events untouched.

Used by tests/reliability/test_bad_inputs.py (one test per case) and bench/reliability_inputs.py
(bench/reliability.py imports :func:`run_bad_input_corpus`). Most cases run in-process through Typer's
CliRunner (a subprocess costs ~8 s of imports); the cases in :data:`SUBPROCESS_CASES` run the real
command in a subprocess: ``[sys.executable, "-c", "from flows.cli import app; app()", "ingest", ...]``.

DuckDB does not rewrite a file it only opens: an ingest that fails leaves events.duckdb byte-identical,
so the bytes are compared as well as the content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = "from flows.cli import app; app()"

# --------------------------------------------------------------------------------------------------
# Hand-made files
# --------------------------------------------------------------------------------------------------

ACLED_COLUMNS: tuple[str, ...] = (
    "event_id_cnty", "event_date", "year", "time_precision", "event_type", "sub_event_type", "actor1",
    "assoc_actor_1", "actor2", "assoc_actor_2", "interaction", "country", "iso3", "admin1", "admin2", "location",
    "latitude", "longitude", "geo_precision", "source", "notes", "fatalities", "timestamp",
)
UCDP_COLUMNS: tuple[str, ...] = (
    "id", "year", "type_of_violence", "side_a", "side_b", "source_headline", "where_prec", "where_coordinates",
    "adm_1", "adm_2", "latitude", "longitude", "country", "date_prec", "date_start", "date_end", "best",
)


def acled_row(event_id: str, **cells: str) -> dict[str, str]:
    """A valid ACLED row (a battle in Gao, Mali, 2020), with ``cells`` replaced."""
    row = {
        "event_id_cnty": event_id, "event_date": "2020-01-06", "year": "2020", "time_precision": "1",
        "event_type": "Battles", "sub_event_type": "Armed clash", "actor1": "Group A", "assoc_actor_1": "",
        "actor2": "Group B", "assoc_actor_2": "", "interaction": "12", "country": "Mali", "iso3": "MLI",
        "admin1": "Gao", "admin2": "Gao", "location": "Gao", "latitude": "16.2700", "longitude": "-0.0400",
        "geo_precision": "1", "source": "Invented Radio", "notes": "Invented clash.", "fatalities": "2",
        "timestamp": "1600000000",
    }
    return row | cells


def ucdp_row(event_id: str, **cells: str) -> dict[str, str]:
    """A valid UCDP GED row (a state-based event near Mopti, Mali, 2020), with ``cells`` replaced."""
    row = {
        "id": event_id, "year": "2020", "type_of_violence": "1", "side_a": "Government of Mali",
        "side_b": "Test Group A", "source_headline": "Invented headline", "where_prec": "1",
        "where_coordinates": "Sangha village", "adm_1": "Mopti region", "adm_2": "Bandiagara cercle",
        "latitude": "14.47", "longitude": "-3.30", "country": "Mali", "date_prec": "1",
        "date_start": "2020-03-01 00:00:00.000", "date_end": "2020-03-01 00:00:00.000", "best": "5",
    }
    return row | cells


def table_text(rows: Sequence[dict[str, str]], columns: Sequence[str], *, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue()


def acled_text(*rows: dict[str, str], columns: Sequence[str] = ACLED_COLUMNS, delimiter: str = ",") -> str:
    return table_text(rows, columns, delimiter=delimiter)


def ucdp_text(*rows: dict[str, str], columns: Sequence[str] = UCDP_COLUMNS) -> str:
    return table_text(rows, columns)


def _two_new_acled() -> list[dict[str, str]]:
    """Two valid rows with new ids (rows 2 and 3 of a file): a rejected file must not store them either."""
    return [acled_row("NEW1"), acled_row("NEW2", event_date="2020-01-07")]


def _two_new_ucdp() -> list[dict[str, str]]:
    return [ucdp_row("990001"), ucdp_row("990002", date_start="2020-03-02 00:00:00.000")]


def _acled_with(**cells: str) -> Callable[[Path], None]:
    """Two good new rows then, on row 4, one whose ``cells`` are replaced."""
    return lambda path: path.write_text(acled_text(*_two_new_acled(), acled_row("NEW3", **cells)), encoding="utf-8")


def _ucdp_with(**cells: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(ucdp_text(*_two_new_ucdp(), ucdp_row("990003", **cells)), encoding="utf-8")


def _text(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(text.encode(encoding))


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _without_column(column: str, text_of=acled_text, columns=ACLED_COLUMNS, rows=_two_new_acled) -> Callable[[Path], None]:
    kept = [c for c in columns if c != column]
    return lambda path: path.write_text(text_of(*rows(), columns=kept), encoding="utf-8")


def _latin1(path: Path) -> None:
    rows = [*_two_new_acled(), acled_row("NEW3"), acled_row("NEW4", actor1="Groupe armé du Gourma")]
    path.write_bytes(acled_text(*rows).encode("latin-1"))  # the é (0xe9) is on row 5


def _ucdp_latin1(path: Path) -> None:
    rows = [*_two_new_ucdp(), ucdp_row("990003", where_coordinates="Ségou town")]
    path.write_bytes(ucdp_text(*rows).encode("latin-1"))  # row 4


def _truncated(path: Path) -> None:
    text = acled_text(*_two_new_acled(), acled_row("NEW3"))
    path.write_text(text + "NEW4,2020-01-08,2020,1,Battles\n", encoding="utf-8")  # row 5: 5 of 23 cells


def _extra_cells(path: Path) -> None:
    lines = acled_text(*_two_new_acled(), acled_row("NEW3")).splitlines()
    lines[2] += ",surplus,cells"  # row 3
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _mixed_schemas(path: Path) -> None:
    current = (*ACLED_COLUMNS[:4], "disorder_type", *ACLED_COLUMNS[4:], "civilian_targeting", "tags")
    second = acled_text(acled_row("NEW3", disorder_type="Political violence"), columns=current)
    path.write_text(acled_text(*_two_new_acled()) + second, encoding="utf-8")  # second header on row 4


def _duplicate_conflicting(path: Path) -> None:
    rows = [*_two_new_acled(), acled_row("NEW1", fatalities="40", notes="Revised: another clash.")]
    path.write_text(acled_text(*rows), encoding="utf-8")  # NEW1 on rows 2 and 4


def _ucdp_duplicate(path: Path) -> None:
    rows = [*_two_new_ucdp(), ucdp_row("990001", best="50")]
    path.write_text(ucdp_text(*rows), encoding="utf-8")


def _hxl_only(path: Path) -> None:
    tags = {c: f"#{c.replace('_', '+')}" for c in ACLED_COLUMNS}
    path.write_text(acled_text(tags), encoding="utf-8")


def _huge_field(path: Path) -> None:
    head = acled_text(*_two_new_acled())
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        row = acled_row("NEW3", notes="@")
        out.write(",".join(row[c] for c in ACLED_COLUMNS[:-3]) + ",")
        out.write("x" * 50_000_000)  # a 50 MB notes cell on row 4
        out.write(f",{row['fatalities']},{row['timestamp']}\n")


def _binary_junk(path: Path) -> None:
    path.write_bytes(random.Random(9).randbytes(4096))


def _corrupt_xlsx(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04" + random.Random(3).randbytes(2000))


def _zip_archive(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("acled_export.csv", acled_text(*_two_new_acled()))


def _truncated_xlsx(path: Path) -> None:
    _good_xlsx(path)
    path.write_bytes(path.read_bytes()[:1500])


def _good_xlsx(path: Path, rows: Sequence[dict[str, str]] | None = None) -> None:
    import pandas as pd

    frame = pd.DataFrame(list(rows or _two_new_acled()), columns=list(ACLED_COLUMNS))
    frame.to_excel(path, index=False, engine="openpyxl")


def _xlsx_bad_cell(path: Path) -> None:
    _good_xlsx(path, [*_two_new_acled(), acled_row("NEW3", fatalities="-1")])  # spreadsheet row 4


def _folder(path: Path) -> None:
    path.mkdir()


def _nothing(path: Path) -> None:
    """The path is left missing."""


INJECTIONS = {
    "actor1": "'); DROP TABLE events;--",
    "actor2": "=cmd|' /C calc'!A0",
    "assoc_actor_1": "+1+1; @SUM(A1:A9)",
    "location": "Robert'); DELETE FROM events WHERE ('1'='1",
    "notes": '<script>alert("x")</script> <img src=x onerror=alert(1)> ${jndi:ldap://x/a} {{7*7}} -- ; /*',
}
UCDP_INJECTIONS = {"side_a": "=HYPERLINK(\"http://x\",\"y\")", "source_headline": "<b onmouseover=alert(1)>x</b>'; --"}


def _injections(path: Path) -> None:
    path.write_text(acled_text(acled_row("INJ1", **INJECTIONS), acled_row("INJ2")), encoding="utf-8")


def _ucdp_injections(path: Path) -> None:
    path.write_text(ucdp_text(ucdp_row("990101", **UCDP_INJECTIONS)), encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad (or hostile but valid) input and what `vigie ingest --json` must do with it."""

    name: str
    file_name: str
    make: Callable[[Path], None]
    row: int | None = None
    column: str | None = None
    words: tuple[str, ...] = ()
    #: Accepted cases exit 0; ``stored`` maps (source, event_id) -> {column: exact text} to read back.
    accepted: bool = False
    stored: dict[tuple[str, str], dict[str, str | None]] = field(default_factory=dict)
    #: False: run `vigie ingest --json` with no file argument at all.
    pass_file: bool = True


def _case(name, file_name, make, row=None, column=None, *words, **kw) -> Case:
    return Case(name, file_name, make, row, column, tuple(words), **kw)


CASES: tuple[Case, ...] = (
    # -- the defects of issue 9, item 6
    _case("corrupt_xlsx", "export.xlsx", _corrupt_xlsx, None, None, "damaged xlsx"),
    _case("truncated_xlsx", "cut.xlsx", _truncated_xlsx, None, None, "damaged xlsx"),
    _case("zip_archive", "export.zip", _zip_archive, None, None, "zip archive, not an xlsx workbook"),
    _case("header_only", "header_only.csv", _text(acled_text()), None, None, "no event rows"),
    _case("header_and_hxl_row_only", "hxl_only.csv", _hxl_only, None, None, "no event rows"),
    _case("nul_byte_in_actor1", "nul.csv", _acled_with(actor1="Group\x00A"), 4, "actor1", "NUL byte"),
    _case("iso3_xyz_beside_mali", "xyz.csv", _acled_with(iso3="XYZ"), 4, "iso3", "'XYZ'", "contradicts"),
    _case("latin1_byte_on_row_5", "latin1.csv", _latin1, 5, "actor1", "not UTF-8", "Latin-1"),
    _case("truncated_line", "truncated.csv", _truncated, 5, "sub_event_type", "5 cells", "truncated"),
    _case("extra_cells", "extra.csv", _extra_cells, 3, None, "25 cells", "extra cells"),
    _case("mixed_schemas", "mixed.csv", _mixed_schemas, 4, None, "second header line"),
    _case("field_of_50_mb", "huge.csv", _huge_field, 4, "notes", "50,000,000 characters", "limit"),
    _case("latitude_200_printed_plainly", "lat.csv", _acled_with(latitude="200"), 4, "latitude", "found 200", "[-90, 90]"),
    _case("future_date_printed_plainly", "future.csv", _acled_with(event_date="2099-01-05"), 4, "event_date",
          "future", "found 2099-01-05"),
    _case("missing_path", "does_not_exist.csv", _nothing, None, None, "no such file"),
    _case("directory_as_file", "a_folder", _folder, None, None, "is a folder"),
    _case("no_file_argument", "", _nothing, None, None, "no event file given", pass_file=False),
    # -- missing columns
    _case("missing_fatalities_column", "nofat.csv", _without_column("fatalities"), None, "fatalities",
          "missing required column 'fatalities'"),
    _case("missing_country_and_iso3", "nocountry.csv",
          lambda p: p.write_text(acled_text(*_two_new_acled(), columns=[c for c in ACLED_COLUMNS if c not in ("country", "iso3")]),
                                 encoding="utf-8"),
          None, "country", "missing required column"),
    _case("missing_event_date_column", "nodate.csv", _without_column("event_date"), None, None,
          "unknown event file format", "event_date"),
    # -- bad cells
    _case("bad_date", "baddate.csv", _acled_with(event_date="2020-13-45"), 4, "event_date", "expected a date", "'2020-13-45'"),
    _case("empty_date", "nodate_cell.csv", _acled_with(event_date=""), 4, "event_date", "empty cell"),
    _case("pre_1989_date", "old.csv", _acled_with(event_date="1985-05-01"), 4, "event_date", "1989-01-01", "found 1985-05-01"),
    _case("longitude_out_of_range", "lon.csv", _acled_with(longitude="-190.5"), 4, "longitude", "found -190.5"),
    _case("coordinate_not_a_number", "latnan.csv", _acled_with(latitude="16,27"), 4, "latitude", "finite number", "'16,27'"),
    _case("negative_fatalities", "negfat.csv", _acled_with(fatalities="-3"), 4, "fatalities", ">= 0", "found -3"),
    _case("non_numeric_fatalities", "textfat.csv", _acled_with(fatalities="many"), 4, "fatalities", "whole number", "'many'"),
    _case("fractional_fatalities", "halffat.csv", _acled_with(fatalities="2.5"), 4, "fatalities", "whole number", "'2.5'"),
    _case("unknown_event_type", "etype.csv", _acled_with(event_type="Skirmish"), 4, "event_type", "'Skirmish'"),
    _case("unknown_country_name", "atlantis.csv", _acled_with(country="Atlantis", iso3=""), 4, "country",
          "unknown country name 'Atlantis'"),
    _case("malformed_country_code", "ml1.csv", _acled_with(iso3="ML1", country=""), 4, "country_iso3", "three capital letters"),
    _case("duplicate_id_conflicting_content", "dup.csv", _duplicate_conflicting, 2, "event_id", "'NEW1'", "rows 2 and 4"),
    _case("xlsx_negative_fatalities", "cells.xlsx", _xlsx_bad_cell, 4, "fatalities", ">= 0", "found -1"),
    # -- whole-file faults
    _case("empty_file", "empty.csv", _bytes(b""), None, None, "empty file"),
    _case("semicolon_delimiter", "semicolon.csv", _text(acled_text(*_two_new_acled(), delimiter=";")), 1, None,
          "separated by ';'"),
    _case("tab_delimiter", "tabs.csv", _text(acled_text(*_two_new_acled(), delimiter="\t")), 1, None, "separated by a tab"),
    _case("utf16_with_bom", "utf16.csv", _text(acled_text(*_two_new_acled()), "utf-16"), None, None, "UTF-16"),
    _case("utf16_without_bom", "utf16le.csv", _text(acled_text(*_two_new_acled()), "utf-16-le"), None, None, "UTF-16"),
    _case("binary_junk", "junk.csv", _binary_junk, None, None, "not a UTF-8 CSV file"),
    _case("not_an_event_file", "other.csv", _text("name,value\nx,1\n"), None, None, "unknown event file format"),
    # -- UCDP GED files with the same kinds of faults
    _case("ucdp_header_only", "ged_header.csv", _text(ucdp_text()), None, None, "no event rows"),
    _case("ucdp_missing_best_column", "ged_nobest.csv", _without_column("best", ucdp_text, UCDP_COLUMNS, _two_new_ucdp),
          None, None, "unknown event file format"),
    _case("ucdp_missing_side_b_column", "ged_noside.csv", _without_column("side_b", ucdp_text, UCDP_COLUMNS, _two_new_ucdp),
          None, "side_b", "missing required column 'side_b'"),
    _case("ucdp_violence_type_4", "ged_type.csv", _ucdp_with(type_of_violence="4"), 4, "type_of_violence", "'4'"),
    _case("ucdp_bad_date", "ged_date.csv", _ucdp_with(date_start="2020-02-30"), 4, "date_start", "expected a date"),
    _case("ucdp_future_date", "ged_future.csv", _ucdp_with(date_start="2099-03-02 00:00:00.000"), 4, "event_date",
          "future", "found 2099-03-02"),
    _case("ucdp_negative_best", "ged_best.csv", _ucdp_with(best="-5"), 4, "fatalities", ">= 0", "found -5"),
    _case("ucdp_non_numeric_id", "ged_id.csv", _ucdp_with(id="abc"), 4, "id", "whole number", "'abc'"),
    _case("ucdp_latitude_out_of_range", "ged_lat.csv", _ucdp_with(latitude="95.5"), 4, "latitude", "found 95.5"),
    _case("ucdp_unknown_country", "ged_country.csv", _ucdp_with(country="Atlantis"), 4, "country", "'Atlantis'"),
    _case("ucdp_duplicate_id", "ged_dup.csv", _ucdp_duplicate, 2, "event_id", "'990001'", "rows 2 and 4"),
    _case("ucdp_latin1", "ged_latin1.csv", _ucdp_latin1, 4, "where_coordinates", "not UTF-8"),
    _case("ucdp_truncated_line", "ged_cut.csv",
          lambda p: p.write_text(ucdp_text(*_two_new_ucdp()) + "990003,2020,1\n", encoding="utf-8"),
          4, "side_a", "3 cells", "truncated"),
    _case("ucdp_nul_in_side_a", "ged_nul.csv", _ucdp_with(side_a="Test\x00Group"), 4, "actor1", "NUL byte"),
    # -- controls: the good rows the bad files carry are accepted on their own (so "unchanged" means something)
    _case("control_good_acled_rows", "good.csv", _text(acled_text(*_two_new_acled())), accepted=True,
          stored={("acled", "NEW1"): {"assignment": "point"}, ("acled", "NEW2"): {"assignment": "point"}}),
    _case("control_good_ucdp_rows", "ged_good.csv", _text(ucdp_text(*_two_new_ucdp())), accepted=True,
          stored={("ucdp", "990001"): {"assignment": "point"}, ("ucdp", "990002"): {"assignment": "point"}}),
    # -- hostile but valid: stored verbatim as text, nothing executes
    _case("injection_strings_stored_verbatim", "injection.csv", _injections, accepted=True,
          stored={("acled", "INJ1"): {"actor1": INJECTIONS["actor1"], "actor2": INJECTIONS["actor2"],
                                      "assoc_actors": INJECTIONS["assoc_actor_1"], "location": INJECTIONS["location"],
                                      "notes": INJECTIONS["notes"], "assignment": "point"},
                  ("acled", "INJ2"): {"actor1": "Group A", "assignment": "point"}}),
    _case("ucdp_injection_strings_stored_verbatim", "ged_injection.csv", _ucdp_injections, accepted=True,
          stored={("ucdp", "990101"): {"actor1": UCDP_INJECTIONS["side_a"], "notes": UCDP_INJECTIONS["source_headline"]}}),
    _case("unknown_country_code_alone_left_unassigned", "xyz_alone.csv",
          lambda p: p.write_text(acled_text(acled_row("XYZ1", iso3="XYZ", country="")), encoding="utf-8"), accepted=True,
          stored={("acled", "XYZ1"): {"country_iso3": "XYZ", "district_code": None, "assignment": "unassigned",
                                      "unassigned_reason": "country code 'XYZ' is not a known country"}}),
)

#: Cases also run as a real subprocess (the others run in-process through CliRunner, same command).
SUBPROCESS_CASES: tuple[str, ...] = (
    "corrupt_xlsx", "nul_byte_in_actor1", "missing_path", "directory_as_file", "injection_strings_stored_verbatim",
)

# --------------------------------------------------------------------------------------------------
# The home the cases ingest into, and reading both stores back
# --------------------------------------------------------------------------------------------------

GOOD_ACLED = acled_text(acled_row("GOOD1"), acled_row("GOOD2", event_date="2020-01-08", admin2="Ansongo"),
                        acled_row("GOOD3", event_type="Violence against civilians", actor2="Civilians (Mali)"))
GOOD_UCDP = ucdp_text(ucdp_row("900001"), ucdp_row("900002", type_of_violence="3", side_b="Civilians"))


def _clean_environ(prefixes: tuple[str, ...] = ("VIGIE_", "ACLED_")) -> dict[str, str]:
    """The environment without the variables that would point the command elsewhere than the case's home."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def make_base_home(root: Path) -> Path:
    """A home whose event store holds 5 good events (3 ACLED, 2 UCDP), and an (empty) migrated score store."""
    from publish.score_store import ScoreStore

    home = root / "base_home"
    inputs = root / "good_inputs"
    inputs.mkdir(parents=True)
    (inputs / "acled.csv").write_text(GOOD_ACLED, encoding="utf-8")
    (inputs / "ucdp.csv").write_text(GOOD_UCDP, encoding="utf-8")
    done = _in_process(["ingest", str(inputs / "acled.csv"), str(inputs / "ucdp.csv"), "--home", str(home), "--json"])
    if done["exit_code"] != 0:
        raise RuntimeError(f"the good events did not ingest: {done['output'][-2000:]}")
    ScoreStore(f"duckdb:///{home / 'scores.duckdb'}").migrated().close()
    return home


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def event_store_content(path: Path) -> dict:
    """Every row of every table of the event store (read-only connection: the file is not written)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        content = {}
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}" ORDER BY ALL')
            columns = [d[0] for d in cursor.description]
            content[table] = [dict(zip(columns, row)) for row in cursor.fetchall()]
        return content
    finally:
        con.close()


def stores_state(home: Path) -> dict:
    """Bytes of both stores (and of a DuckDB write-ahead log, if one were left), then the event store's content."""
    files = {name: _digest(home / name) for name in ("events.duckdb", "events.duckdb.wal", "scores.duckdb", "scores.duckdb.wal")}
    return {"files": files, "events": event_store_content(home / "events.duckdb")}


# --------------------------------------------------------------------------------------------------
# Running the command
# --------------------------------------------------------------------------------------------------


def _last_json(stdout: str) -> dict | None:
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _in_process(args: list[str]) -> dict:
    from typer.testing import CliRunner

    from flows.cli import app

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(_clean_environ())
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    crash = "" if result.exception is None or isinstance(result.exception, SystemExit) else repr(result.exception)
    return {"exit_code": result.exit_code, "stdout": result.stdout, "output": result.output + crash}


def _in_subprocess(args: list[str], cwd: Path) -> dict:
    env = _clean_environ(("VIGIE_", "ACLED_", "PREFECT_")) | {"PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CLI, *args], check=False, env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    return {"exit_code": done.returncode, "stdout": done.stdout, "output": done.stdout + done.stderr}


def run_case(case: Case, base_home: Path, work: Path, *, in_subprocess: bool) -> dict:
    """Ingest the case's file into a copy of the base home; what happened, and both stores before and after."""
    folder = work / case.name
    folder.mkdir(parents=True)
    home = folder / "home"
    shutil.copytree(base_home, home)
    path = folder / case.file_name if case.file_name else folder / "unused"
    case.make(path)
    args = ["ingest", *([str(path)] if case.pass_file else []), "--home", str(home), "--json"]
    before = stores_state(home)
    started = time.monotonic()
    done = _in_subprocess(args, folder) if in_subprocess else _in_process(args)
    seconds = time.monotonic() - started
    after = stores_state(home)
    return {"case": case, "path": str(path) if case.pass_file else "vigie ingest", "mode": "subprocess" if in_subprocess else "in-process",
            "seconds": seconds, "exit_code": done["exit_code"], "payload": _last_json(done["stdout"]),
            "output": done["output"][-3000:], "before": before, "after": after}


# --------------------------------------------------------------------------------------------------
# Judging an outcome
# --------------------------------------------------------------------------------------------------


def _rows_by_key(content: dict) -> dict[tuple[str, str], dict]:
    return {(row["source"], row["event_id"]): row for row in content["events"]["events"]}


def problems(outcome: dict) -> list[str]:
    """What is wrong with one outcome ([] when the case passed)."""
    case: Case = outcome["case"]
    payload, before, after = outcome["payload"], outcome["before"], outcome["after"]
    found = []
    if before["files"]["scores.duckdb"] != after["files"]["scores.duckdb"] or after["files"]["scores.duckdb.wal"]:
        found.append("the score store changed")
    if case.accepted:
        if outcome["exit_code"] != 0:
            found.append(f"exit {outcome['exit_code']}, expected 0")
        if not payload or payload.get("ok") is not True:
            found.append(f"last line is not a JSON report with ok true: {payload}")
        old, new = _rows_by_key(before), _rows_by_key(after)
        if any(new.get(key) != row for key, row in old.items()):
            found.append("an event stored before changed")
        for key, cells in case.stored.items():
            stored = new.get(key)
            if stored is None:
                found.append(f"event {key} not stored")
                continue
            found += [f"{key} {column}: stored {stored.get(column)!r}, written {text!r}"
                      for column, text in cells.items() if stored.get(column) != text]
        return found
    if outcome["exit_code"] != 2:
        found.append(f"exit {outcome['exit_code']}, expected 2")
    if before != after:
        found.append("the event store changed" if before["files"]["events.duckdb"] != after["files"]["events.duckdb"]
                     else "the event store's content changed")
    if not payload or set(payload) != {"ok", "error", "error_type"} or payload.get("ok") is not False:
        return [*found, f"last line is not {{ok: false, error, error_type}}: {payload}"]
    error = str(payload["error"])
    if not error.startswith(outcome["path"]):
        found.append(f"error does not start with the file {outcome['path']}: {error}")
    if case.row is not None and not re.search(rf", row {case.row}[,:]", error):
        found.append(f"error does not name row {case.row}: {error}")
    if case.column is not None and f"column '{case.column}'" not in error:
        found.append(f"error does not name column '{case.column}': {error}")
    found += [f"error lacks {word!r}: {error}" for word in case.words if word not in error]
    found += [f"error shows a Python repr ({r}): {error}" for r in ("np.float64(", "np.int64(", "Timestamp(", "NaT", "<NA>")
              if r in error]
    return found


def _clear_error(outcome: dict) -> bool:
    payload = outcome["payload"]
    return (outcome["exit_code"] == 2 and bool(payload) and payload.get("ok") is False
            and str(payload.get("error", "")).startswith(outcome["path"]))


def _summary(outcomes: list[dict]) -> dict:
    """Figures per distinct input: a case run both in-process and as a subprocess counts once, and passes
    a figure only when both runs do."""
    runs: dict[str, list[dict]] = {}
    for outcome in outcomes:
        runs.setdefault(outcome["case"].name, []).append(outcome)
    rejected = [group for group in runs.values() if not group[0]["case"].accepted]
    accepted = [group for group in runs.values() if group[0]["case"].accepted]
    failures = {(o["case"].name + (" (subprocess)" if o["mode"] == "subprocess" else "")): problems(o)
                for o in outcomes if problems(o)}
    return {
        "bad_inputs_tried": len(rejected),
        "clear_errors": sum(all(_clear_error(o) for o in group) for group in rejected),
        "stores_unchanged": sum(all(o["before"] == o["after"] for o in group) for group in rejected),
        "valid_inputs": len(accepted),
        "stored_as_written": sum(all(not problems(o) for o in group) for group in accepted),
        "cases_passed": sum(all(not problems(o) for o in group) for group in runs.values()),
        "cases": len(runs),
        "runs": len(outcomes),
        "subprocess_runs": sum(o["mode"] == "subprocess" for o in outcomes),
        "failures": failures,
        "command_seconds": round(sum(o["seconds"] for o in outcomes), 1),
    }


def run_bad_input_corpus(tmp_dir: Path | str, *, cases: Sequence[Case] = CASES,
                         subprocess_cases: Sequence[str] = SUBPROCESS_CASES, workers: int = 2) -> dict:
    """Run every case (those named in ``subprocess_cases`` as a real subprocess, ``workers`` at a time, the
    others in-process) against copies of one base home; returns the figures, the failures and each outcome.

    Keys (counts of distinct inputs): bad_inputs_tried, clear_errors (exit 2, one JSON line naming the
    file), stores_unchanged (both stores byte- and content-identical), valid_inputs / stored_as_written
    (the accepted cases: controls, injection strings, a code that is no country), cases_passed, cases;
    runs and subprocess_runs; failures ({run: problems}); command_seconds (summed over runs, which
    overlap), wall_seconds; outcomes ({run name: outcome}, "<case> (subprocess)" for a subprocess run).
    """
    started = time.monotonic()
    root = Path(tmp_dir)
    base = make_base_home(root)
    work = root / "cases"
    spawned = [c for c in cases if c.name in subprocess_cases]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_case, c, base, work / "subprocess", in_subprocess=True) for c in spawned]
        # In-process cases run meanwhile, in this thread (the CLI and os.environ are not thread-safe).
        local = [run_case(c, base, work / "in_process", in_subprocess=False) for c in cases]
        remote = [f.result() for f in futures]
    outcomes = local + remote
    summary = _summary(outcomes)
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    summary["outcomes"] = {(o["case"].name + (" (subprocess)" if o["mode"] == "subprocess" else "")): o for o in outcomes}
    return summary


def case_names() -> list[str]:
    return [c.name for c in CASES]
