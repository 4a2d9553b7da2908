"""Reliability figures, to compare run to run: bad inputs, kills, concurrent runs and outages, each with real
`vigie` processes on a small simulated country (160 weeks of Mali).

Printed:
* bad inputs tried / clear errors / stores unchanged (the corpus of tests/reliability/corpus.py);
* kills (SIGKILL at each pause point of publish/faults.py, DuckDB; and inside the publish transaction on
  PostgreSQL when a server answers) / left every published week whole and the earlier state intact /
  recovered by the next run;
* concurrent runs of one week on one store / runs that published (must be 1) / refused with exit 2;
* outages (closed ports for PostgreSQL and MLflow) / failed with exit 3 in one line / seconds to fail.

Usage: ``.venv/bin/python bench/reliability.py [--json]`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests" / "reliability", ROOT / "bench"):
    sys.path.insert(0, str(path))

from reliability_inputs import bad_input_figures  # noqa: E402
from runs import (  # noqa: E402
    complete_weeks,
    copy_home,
    files_of,
    kill,
    run,
    same_scores,
    start,
    store_state,
    vigie_env,
    wait_for,
)

POSTGRES_URL = os.environ.get("VIGIE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KILL_POINTS = ("lease-held", "after-training", "publish-transaction", "after-publish")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres() -> str | None:
    """A fresh database on the local server, or None when none answers."""
    import sqlalchemy as sa

    name = f"vigie_bench_{os.getpid()}"
    try:
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as con:
            con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 - no server: the PostgreSQL figures are left out
        return None
    return sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def kills(template: Path, scratch: Path, api_url: str, store_url: str | None) -> dict:
    tried = intact = recovered = 0
    for i, point in enumerate(KILL_POINTS):
        home = copy_home(template, scratch / f"kill-{i}")
        url = store_url or f"duckdb:///{home / 'scores.duckdb'}"
        if store_url:
            run(["run", "--simulated", "--json"], vigie_env(home, api_url=api_url, score_store=url))
        before, files = store_state(url), files_of(home / "exports" / "MLI")
        args = ["run", "--simulated", "--json", *(["--retrain", "always"] if point == "after-training" else [])]
        env = vigie_env(home, api_url=api_url, score_store=store_url, pause_at=point, pause_dir=scratch / f"kill-{i}")
        proc = start(args, env, scratch / f"kill-{i}.log")
        wait_for(scratch / f"kill-{i}" / f"{point}.paused", proc, scratch / f"kill-{i}.log")
        kill(proc)
        time.sleep(0.5)
        after = store_state(url)
        tried += 1
        whole = complete_weeks(after) and (point == "after-publish" or same_scores(after, before))
        intact += bool(whole and files_of(home / "exports" / "MLI") == files)
        env.pop("VIGIE_PAUSE_AT")
        recovered += run(["run", "--simulated", "--json"], env).code == 0 and complete_weeks(store_state(url))
    return {"kills": tried, "intact": intact, "recovered": recovered}


def concurrency(template: Path, scratch: Path, api_url: str, store_url: str) -> dict:
    a_home, b_home = copy_home(template, scratch / "a"), copy_home(template, scratch / "b")
    a = start(["run", "--simulated", "--json"], vigie_env(a_home, api_url=api_url, score_store=store_url, pause_at="lease-held",
                                           pause_dir=scratch), scratch / "a.log")
    wait_for(scratch / "lease-held.paused", a, scratch / "a.log")
    b = run(["run", "--simulated", "--json"], vigie_env(b_home, api_url=api_url, score_store=store_url))
    (scratch / "lease-held.go").touch()
    a_code = a.wait(timeout=600)
    return {"concurrent_runs": 2, "published": int(a_code == 0) + int(b.code == 0), "refused_exit_2": int(b.code == 2),
            "publications": len(store_state(store_url)["publications"])}


def outages(template: Path, scratch: Path, api_url: str) -> dict:
    out = {}
    for what in ("postgresql", "mlflow"):
        port = _closed_port()
        extra = ({"VIGIE_SCORE_STORE_URL": f"postgresql+psycopg://postgres:pw@127.0.0.1:{port}/x"} if what == "postgresql"
                 else {"VIGIE_TRACKING_URI": f"http://127.0.0.1:{port}"})
        result = run(["run", "--simulated", "--json"], vigie_env(copy_home(template, scratch / what), api_url=api_url, extra=extra))
        out[what] = {"exit": result.code, "one_line": "\n" not in result.last_json.get("error", "\n"),
                     "seconds": round(result.seconds, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    from flows.prefect_api import prefect_api

    figures = {}
    with tempfile.TemporaryDirectory(prefix="vigie-reliability-") as tmp:
        scratch = Path(tmp)
        figures["bad_inputs"] = bad_input_figures(scratch / "inputs")
        with prefect_api(scratch / "prefect", 600) as api_url:
            template = scratch / "template"
            first = run(["run", "--simulated", "--json"], vigie_env(template, api_url=api_url))
            if first.code != 0:
                raise SystemExit(f"the first run failed:\n{first.stderr[-3000:]}")
            figures["kills_duckdb"] = kills(template, scratch / "kills-duckdb", api_url, None)
            figures["concurrency_duckdb"] = concurrency(template, scratch / "conc-duckdb", api_url,
                                                        f"duckdb:///{scratch / 'shared.duckdb'}")
            postgres = _postgres()
            if postgres:
                figures["kills_postgresql"] = kills(template, scratch / "kills-pg", api_url, postgres)
                figures["concurrency_postgresql"] = concurrency(template, scratch / "conc-pg", api_url, _postgres())
            figures["outages"] = outages(template, scratch / "outages", api_url)
    b = figures["bad_inputs"]
    print(f"bad inputs: {b['bad_inputs_tried']} tried, {b['clear_errors']} clear errors, {b['stores_unchanged']} stores unchanged")
    for store in ("duckdb", "postgresql"):
        if f"kills_{store}" in figures:
            k, c = figures[f"kills_{store}"], figures[f"concurrency_{store}"]
            print(f"kills ({store}): {k['kills']} kills, {k['intact']} left the stores intact, {k['recovered']} recovered")
            print(f"concurrent runs ({store}): {c['concurrent_runs']} runs, {c['published']} published, "
                  f"{c['refused_exit_2']} refused with exit 2")
    for what, o in figures["outages"].items():
        print(f"outage ({what} on a closed port): exit {o['exit']}, one line: {o['one_line']}, failed in {o['seconds']} s")
    if options.json:
        print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
