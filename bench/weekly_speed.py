"""Benchmark of the weekly run itself: `vigie run` on the real Mali data shipped with Vigie (UCDP GED), cold
(a fresh home: retraining, registration, figures) then warm (the same week again with the champions reused:
scoring, gates, publish, report only). Prints figures; asserts nothing.

Each run is a child process, exactly what a user types, timed twice: once plain (wall and CPU seconds, the
figures quoted against the targets: warm < 10 s, cold < 30 s on a quiet 2-core machine) and once under
cProfile, whose cumulative times give each phase's share of the run (the profiler slows Python code, so read
its seconds as proportions). Phases: imports, the temporary Prefect API (started when no PREFECT_API_URL is
set; a scheduled run with a server has none), ingest, features, the withdrawal evidence, the selection
backtest, fitting, MLflow (runs, registration, figures, tables), scoring, publish and exports; "other" is
Prefect's engine, the CLI and everything not listed.

Usage: ``.venv/bin/python bench/weekly_speed.py [--runs 1]``.
"""

from __future__ import annotations

import argparse
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIGIE = Path(sys.executable).with_name("vigie")

#: phase -> (file suffix, function name) whose cumulative time is the phase's.
PHASES = {
    "imports": [("<frozen importlib._bootstrap>", "_find_and_load")],
    "Prefect temporary API": [("flows/prefect_api.py", "prefect_api")],
    "ingest": [("flows/tasks.py", "ingest_files")],
    "features": [("flows/tasks.py", "build_features")],
    "withdrawal evidence": [("flows/tasks.py", "withdrawal_evidence"), ("flows/tasks.py", "log_withdrawal_evidence")],
    "selection backtest": [("flows/tasks.py", "selection_backtest")],
    "fit challengers": [("flows/tasks.py", "fit_challengers")],
    "MLflow (runs, registry, figures)": [("flows/tasks.py", "register_models"), ("flows/tasks.py", "log_training"),
                                         ("flows/tasks.py", "start_tracking_run"), ("flows/tasks.py", "log_outputs"),
                                         ("flows/tasks.py", "load_champions"), ("flows/tasks.py", "champion_infos"),
                                         ("flows/tasks.py", "check_infrastructure")],
    "scoring and gates": [("flows/tasks.py", "score"), ("flows/tasks.py", "quality_gates"),
                          ("flows/tasks.py", "previous_scores")],
    "publish, exports, report": [("flows/tasks.py", "publish"), ("flows/tasks.py", "stage_outputs"),
                                 ("flows/tasks.py", "commit_outputs"), ("flows/tasks.py", "save_skill")],
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIGIE_", "PREFECT_API_URL"))}


def timed(args: list[str], profile: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (CPU: user + system of that child)."""
    command = [sys.executable, "-m", "cProfile", "-o", str(profile), str(VIGIE), *args] if profile else [str(VIGIE), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def shares(profile: Path) -> tuple[float, dict[str, float]]:
    """Total profiled seconds and seconds per phase (cumulative times of the phase's functions)."""
    stats = pstats.Stats(str(profile)).stats
    total = max(cum for (_, _, _, cum, _) in stats.values())
    out = {}
    for phase, keys in PHASES.items():
        out[phase] = sum(cum for (file, _, name), (_, _, _, cum, _) in stats.items()
                         if any(file.endswith(suffix) and name == fn for suffix, fn in keys))
    return total, out


def show(label: str, wall: float, cpu: float, total: float, phases: dict[str, float], target: float) -> None:
    print(f"\n{label}: {wall:.1f} s wall, {cpu:.1f} s CPU (target < {target:g} s wall on a quiet 2-core machine)")
    print(f"  {'phase':36s} {'profiled s':>10s} {'share':>7s}")
    for phase, seconds in phases.items():
        print(f"  {phase:36s} {seconds:10.2f} {seconds / total:7.1%}")
    other = total - sum(phases.values())
    print(f"  {'other (Prefect engine, CLI, rest)':36s} {other:10.2f} {other / total:7.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="plain runs of each kind (the fastest is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        for kind, extra, target in (("cold", [], 30.0), ("warm", ["--retrain", "never"], 10.0)):
            plain = []
            for i in range(args.runs):
                home = tmp / f"{kind}-{i}"
                if kind == "warm":  # a trained home first
                    timed(["run", "--home", str(home)])
                plain.append(timed(["run", "--home", str(home), *extra]))
            profiled_home = tmp / f"{kind}-profiled"
            if kind == "warm":
                timed(["run", "--home", str(profiled_home)])
            profile = tmp / f"{kind}.prof"
            timed(["run", "--home", str(profiled_home), *extra], profile=profile)
            wall, cpu = min(plain)
            results[kind] = (wall, cpu, *shares(profile), target)
        for kind, (wall, cpu, total, phases, target) in results.items():
            show(f"{kind} run (vigie run, shipped UCDP events, 50 cercles)", wall, cpu, total, phases, target)
        print(f"\nwarm / cold wall: {results['warm'][0] / results['cold'][0]:.2f}")


if __name__ == "__main__":
    main()
