"""Remake the report screenshots the README shows (docs/report-mali.png, docs/report-simulated.png).

    .venv/bin/python docs/screenshots.py

Runs `vigie run` twice in temporary homes (the shipped UCDP events of Mali, then the simulated country), checks
each report in headless Chromium as the tests do (every section shown, nothing past the page's width, prints to
PDF) and saves the top of each page (header, map, the ten highest-risk districts) at its natural size. Needs the
machine's Chromium (Debian: apt install chromium) and the test extras (playwright); a few minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from browser import REPORT_SECTIONS, check_page  # noqa: E402

#: Height of the saved part of each page (CSS pixels at 1280 wide).
TOP_PX = 2300
RUNS = {"report-mali.png": [], "report-simulated.png": ["--simulated"]}


def main() -> None:
    from PIL import Image

    vigie = Path(sys.executable).with_name("vigie")
    for name, extra in RUNS.items():
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([str(vigie), "run", *extra, "--home", f"{tmp}/home", "--json"], cwd=tmp,
                                  capture_output=True, text=True, check=True)
            report = Path(json.loads(done.stdout.strip().splitlines()[-1])["outputs"]["report"])
            full = Path(tmp) / "full.png"
            measured = check_page(report, (*REPORT_SECTIONS, "forces"), Path(tmp), screenshot=full)
            with Image.open(full) as image:
                image.crop((0, 0, image.size[0], min(TOP_PX, image.size[1]))).save(REPO / "docs" / name, optimize=True)
            print(f"docs/{name}: {report} ({measured['height']} px tall, sections {', '.join(measured['sections'])})")


if __name__ == "__main__":
    main()
