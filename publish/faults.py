"""Named pause points for the reliability tests: a run started with ``VIGIE_PAUSE_AT=<point>`` stops at that
point, writes ``<VIGIE_PAUSE_DIR>/<point>.paused`` and waits until ``<point>.go`` appears there (or until it
is killed: the kill and concurrency tests use this to act at exact moments, e.g. inside the publish
transaction). Without the variable a pause point does nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_ENV, PAUSE_DIR_ENV = "VIGIE_PAUSE_AT", "VIGIE_PAUSE_DIR"
#: The points a run passes, in order.
POINTS = ("lease-held", "after-training", "publish-transaction", "after-publish")
MAX_PAUSE_SECONDS = 600.0


def pause_point(name: str) -> None:
    """Pause here when the environment asks for this point (see the module doc)."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    folder = Path(os.environ.get(PAUSE_DIR_ENV, "."))
    (folder / f"{name}.paused").write_text(str(os.getpid()))
    deadline = time.monotonic() + MAX_PAUSE_SECONDS
    while not (folder / f"{name}.go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
