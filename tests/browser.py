"""The machine's headless Chromium, driven by Playwright (no browser download: Playwright runs the installed
binary), for the tests of the HTML pages Vigie writes. The pages are opened from their files with JavaScript
off, as a reader without scripts sees them; the measurements run through the browser's protocol."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: Where Debian's and most distributions' Chromium lives when it is not on PATH.
KNOWN_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
VIEWPORT = {"width": 1280, "height": 900}
#: The sections of every weekly report (the foreign-forces section only where the country has a registry).
REPORT_SECTIONS = ("map", "top", "changes", "events", "violence", "skill", "freshness", "methodology")

MEASURE = """() => {
  const main = document.querySelector('main').getBoundingClientRect();
  const wide = [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > main.right + 1);
  return {
    scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth,
    height: document.documentElement.scrollHeight,
    sections: [...document.querySelectorAll('section[id]')].filter(s => s.getBoundingClientRect().height > 0).map(s => s.id),
    past_main: wide.slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + Math.round(e.getBoundingClientRect().right)),
  };
}"""


def chromium() -> str | None:
    """The Chromium binary, or None."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or next((p for p in KNOWN_PATHS if Path(p).exists()), None)


def require_chromium() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium binary on this machine (Debian: apt install chromium)")
    return binary


def open_page(html_file: Path, screenshot: Path | None = None, pdf: Path | None = None) -> dict:
    """Open ``html_file`` at :data:`VIEWPORT` with scripts off; return :data:`MEASURE`'s figures and, when asked,
    write a full-page PNG screenshot and an A4 PDF (what the browser's print dialog makes)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport=VIEWPORT, java_script_enabled=False)
            page.goto(Path(html_file).resolve().as_uri(), wait_until="load")
            measured = page.evaluate(MEASURE)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            if pdf is not None:
                page.pdf(path=str(pdf), format="A4", print_background=True)
        finally:
            browser.close()
    return measured


def check_page(html_file: Path, sections: tuple[str, ...], tmp_path: Path, screenshot: Path | None = None) -> dict:
    """Assert that the page shows every one of ``sections``, nothing wider than its column or the window, a
    screenshot of the whole page of a sensible size, and that it prints to PDF."""
    from PIL import Image

    png = screenshot or tmp_path / "page.png"
    pdf = tmp_path / "page.pdf"
    m = open_page(html_file, png, pdf)
    missing = [s for s in sections if s not in m["sections"]]
    assert not missing, f"sections not shown: {missing} (shown: {m['sections']})"
    assert m["scroll_width"] <= m["inner_width"], f"the page is {m['scroll_width']} px wide in a {m['inner_width']} px window"
    assert not m["past_main"], f"elements past the page's column: {m['past_main']}"
    with Image.open(png) as image:
        assert image.size[0] == VIEWPORT["width"] and 1500 <= image.size[1] <= 20_000, image.size
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50  # painted, not blank
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    return m
