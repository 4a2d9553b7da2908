"""Benchmark of the weekly run itself: `vigie run` on the real Mali data shipped with Vigie (UCDP GED): the first
run of a fresh home (retraining, plus creating the Prefect and MLflow databases), a retraining run of a home
that has run before (`--retrain always`: what a retraining week costs), and a warm run (the same week again
with the champions reused: scoring, gates, publish, report only). Prints figures; asserts nothing.

Each run is a child process, exactly what a user types, timed twice: once plain (wall and CPU seconds, the
figures quoted against the targets: warm < 10 s, retraining < 30 s on a quiet 2-core machine) and once through
bench/phases.py, which times each Prefect task (wall, CPU, peak memory) and groups them into phases; its
"Prefect, CLI, imports, rest" holds the imports, Prefect's engine and its temporary server (started when no
PREFECT_API_URL is set; a scheduled run with a server has none). The instrumented run imports the flow before
it starts the server (the plain command overlaps them): read its seconds as proportions.

Usage: ``.venv/bin/python bench/weekly_speed.py [--runs 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from phases import show_phases

ROOT = Path(__file__).resolve().parents[1]
VIGIE = Path(sys.executable).with_name("vigie")


FIRST, RETRAIN, WARM = "first run (a fresh home)", "retraining run (an existing home)", "warm run (champions reused)"
#: (kind, options of the timed run, target seconds); every kind but the first runs on a home trained once.
KINDS = ((FIRST, [], 30.0), (RETRAIN, ["--retrain", "always"], 30.0), (WARM, ["--retrain", "never"], 10.0))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIGIE_", "PREFECT_API_URL"))}


def timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one plain `vigie` child process (CPU: user + system of that child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(VIGIE), *args], env=_env(), capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def instrumented(args: list[str], out: Path) -> dict:
    """One run through bench/phases.py: its per-task figures."""
    subprocess.run([sys.executable, str(ROOT / "bench" / "phases.py"), str(out), "--", *args], env=_env(),
                   capture_output=True, text=True, cwd=ROOT)
    result = json.loads(out.read_text())
    if result["error"]:
        raise SystemExit(f"{' '.join(args)} failed: {result['error']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="plain runs of each kind (the fastest is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        for kind, extra, target in KINDS:
            plain = []
            for i in range(args.runs):
                home = tmp / f"{kind}-{i}"
                if extra:  # a trained home first
                    timed(["run", "--home", str(home)])
                plain.append(timed(["run", "--home", str(home), *extra]))
            home = tmp / f"{kind}-instrumented"
            if extra:
                timed(["run", "--home", str(home)])
            phases = instrumented(["run", "--home", str(home), *extra], tmp / f"{kind}.json")
            results[kind] = (*min(plain), phases, target)
        for kind, (wall, cpu, phases, target) in results.items():
            print(f"\n{kind} (vigie run, shipped UCDP events, 50 cercles): {wall:.1f} s wall, {cpu:.1f} s CPU "
                  f"(target < {target:g} s wall on a quiet 2-core machine); instrumented: {phases['wall']:.1f} s, "
                  f"peak {phases['peak'] / 1e9:.2f} GB")
            show_phases(phases)
        print(f"\nwarm / retraining wall: {results[WARM][0] / results[RETRAIN][0]:.2f}")


if __name__ == "__main__":
    main()
