"""Real `vigie run` processes for the reliability tests and bench/reliability.py: start one, pause it at a named
point, kill it with SIGKILL, and read back every store it could have touched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
#: A small simulated Mali: 160 weeks from 2016, so a run takes seconds once champions exist.
SMALL = {"VIGIE_SIMULATION_WEEKS": "160", "VIGIE_SIMULATION_START": "2016-01-04", "VIGIE_PANEL_START": "2016-01-04"}
CLI = "from flows.cli import app; app()"


def settings_for(home: Path, **overrides):
    from flows.settings import Settings

    return Settings(home=home, simulation_weeks=int(SMALL["VIGIE_SIMULATION_WEEKS"]),
                    simulation_start=SMALL["VIGIE_SIMULATION_START"], panel_start=SMALL["VIGIE_PANEL_START"], **overrides)


def vigie_env(home: Path, *, api_url: str | None, score_store: str | None = None, pause_at: str | None = None,
              pause_dir: Path | None = None, extra: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIE_", "PREFECT_API_URL", "ACLED_"))}
    env |= SMALL | {"VIGIE_HOME": str(home), "PYTHONPATH": str(REPO), "PREFECT_HOME": str(home / "prefect")}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if score_store:
        env["VIGIE_SCORE_STORE_URL"] = score_store
    if pause_at:
        env["VIGIE_PAUSE_AT"], env["VIGIE_PAUSE_DIR"] = pause_at, str(pause_dir)
    return env | (extra or {})


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_json(self) -> dict:
        lines = [line for line in self.stdout.strip().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}


def run(args: list[str], env: dict[str, str], timeout: float = 600) -> Finished:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CLI, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-c", CLI, *args], env=env, cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run exited ({proc.returncode}) before {path.name}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} not reached in {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - out
        out |= frontier
    return out


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            out.add(pid)
    return out


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def store_state(url: str) -> dict:
    """Everything a consumer reads from the score store, in a comparable form."""
    from publish.score_store import ScoreStore

    store = ScoreStore(url)
    try:
        publications = store.publications()
        weeks = {str(w.date()): store.week(w.date()).sort_values(["district_code", "horizon_weeks"]).reset_index(drop=True)
                 for w in pd.to_datetime(publications["week_start"])}
        rows = sum(len(f) for f in weeks.values())
        leases = store.leases()
    finally:
        store.close()
    return {"publications": publications, "weeks": weeks, "rows": rows, "leases": leases}


def same_scores(a: dict, b: dict) -> bool:
    return a["publications"].equals(b["publications"]) and a["weeks"].keys() == b["weeks"].keys() and all(
        a["weeks"][k].equals(b["weeks"][k]) for k in a["weeks"])


def complete_weeks(state: dict, n_districts: int = 50, n_horizons: int = 3) -> bool:
    """Every published week has all its rows, from one run, and its publication row agrees."""
    pubs = state["publications"].set_index(state["publications"]["week_start"].astype(str))
    return all(len(f) == n_districts * n_horizons and f["run_id"].nunique() == 1
               and pubs.loc[w, "run_id"] == f["run_id"].iloc[0] and pubs.loc[w, "n_rows"] == len(f)
               for w, f in state["weeks"].items())


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_home(template: Path, home: Path) -> Path:
    """A copy of a trained home (its MLflow artifacts stay where the template's tracking store points)."""
    shutil.copytree(template, home, ignore=shutil.ignore_patterns("prefect", "*.wal"))
    return home
