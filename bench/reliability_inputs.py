"""Benchmark of Vigie's answer to bad input files (the corpus of tests/reliability/corpus.py). Prints figures.

Every case is a tiny hand-made file (malformed CSV or xlsx, wrong encodings, bad cells, usage errors, and
hostile but valid texts) ingested with the real `vigie ingest --json` into a copy of a home whose event
store holds five good events and whose score store exists. Printed, so that runs can be compared:

* bad inputs tried / clear errors (exit 2, last line a JSON object naming the file) / stores unchanged
  (event store and score store byte-identical, and the event store's content read back identical);
* valid inputs (controls, SQL/HTML/formula strings, a code that is no country) / stored as written;
* the cases that failed and why; the time taken.

Usage: ``.venv/bin/python bench/reliability_inputs.py [--all-subprocess] [--json]``. By default the
cases named in corpus.SUBPROCESS_CASES run also as real subprocesses and the others in-process (CliRunner);
``--all-subprocess`` runs every case as a subprocess (about 8 s each). bench/reliability.py can call
:func:`bad_input_figures` (or corpus.run_bad_input_corpus directly).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests" / "reliability"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from corpus import CASES, SUBPROCESS_CASES, run_bad_input_corpus  # noqa: E402

FIGURES = ("bad_inputs_tried", "clear_errors", "stores_unchanged", "valid_inputs", "stored_as_written", "cases_passed",
           "cases", "runs", "subprocess_runs", "wall_seconds")


def bad_input_figures(tmp_dir: Path | str | None = None, *, all_subprocess: bool = False) -> dict:
    """The corpus figures (no per-case outcomes), in a temporary folder unless ``tmp_dir`` is given."""
    spawned = [c.name for c in CASES] if all_subprocess else SUBPROCESS_CASES
    with tempfile.TemporaryDirectory(prefix="vigie-bad-inputs-") as scratch:
        result = run_bad_input_corpus(Path(tmp_dir or scratch), subprocess_cases=spawned)
    return {key: result[key] for key in FIGURES} | {"failures": result["failures"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-subprocess", action="store_true", help="run every case as a real subprocess")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    figures = bad_input_figures(all_subprocess=args.all_subprocess)
    print(f"bad inputs tried / clear errors / stores unchanged: "
          f"{figures['bad_inputs_tried']} / {figures['clear_errors']} / {figures['stores_unchanged']}")
    print(f"valid inputs / stored as written:                   {figures['valid_inputs']} / {figures['stored_as_written']}")
    print(f"cases passed: {figures['cases_passed']} of {figures['cases']} ({figures['runs']} runs, "
          f"{figures['subprocess_runs']} as subprocesses) in {figures['wall_seconds']} s")
    for name, found in figures["failures"].items():
        print(f"  FAILED {name}: {'; '.join(found)}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
