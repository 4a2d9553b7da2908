"""Benchmark of the whole weekly flow at growing sizes: simulated grid countries of 50, 500 and 5,000 districts
over 1,000 weeks, each run end to end exactly as a user would (`vigie simulate --districts N`, then `vigie run`
on that country: ingest, features, withdrawal evidence, the selection backtest, training, MLflow, scoring,
gates, publish, exports and the report). Prints figures; asserts nothing.

Each size runs in a child process of its own (a fresh home, its own memory peak, an address-space limit so a
size that needs more memory than the machine fails alone instead of the machine). The child times every
Prefect task of flows/tasks.py by wrapping its function: wall seconds, the process's CPU seconds while it ran
(the selection backtest's slots run concurrently on the task runner: their calls are merged into one span)
and the peak resident memory of the process meanwhile (sampled every 20 ms). Tasks are grouped into the
phases below; "Prefect, CLI, imports, rest" is the time no task covers.

For each phase the table prints the growth of its cost against the growth of the work (districts x weeks)
from one size to the next: 1.0 is linear, above 1 faster than linear.

Usage: ``.venv/bin/python bench/scale.py [--districts 50,500,5000] [--weeks 1000] [--memory-gb 20]``
(about 10 minutes for 50 and 500; the 5,000-district size is the target: < 15 min, < 8 GB on 2 cores).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: phase -> Prefect task names (flows/tasks.py) whose time is the phase's.
PHASES = {
    "ingest": ["ingest", "load-events", "event-store-summary"],
    "features": ["build-features"],
    "withdrawal evidence": ["weekly-withdrawal-evidence", "log-withdrawal-evidence", "keep-withdrawal-study"],
    "selection backtest": ["selection-backtest", "combine-backtests", "decide-promotions", "check-major-attacks"],
    "training": ["fit-challengers"],
    "MLflow": ["check-infrastructure", "start-tracking-run", "register-models", "log-training", "write-skill",
               "champion-infos", "load-champions", "log-outputs", "finish-tracking-run", "prefect-artifacts"],
    "scoring": ["score-week", "previous-scores", "published-forecasts"],
    "gates": ["freshness-gate", "quality-gates", "check-champions", "retrain-reason"],
    "publish": ["publish", "acquire-lease", "release-lease"],
    "exports and report": ["stage-outputs", "commit-outputs"],
}


# ------------------------------------------------------------------------------------------- the child


class MemorySampler:
    """The process's resident memory, sampled every ``every`` seconds in a thread; ``peak_since(mark)``."""

    def __init__(self, every: float = 0.02):
        self.samples: list[tuple[float, int]] = []
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self._rss()))
            time.sleep(every)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end + 0.02]
        return max(inside) if inside else self._rss()


def _instrument(records: list[dict], sampler: MemorySampler) -> None:
    """Wrap the function of every Prefect task in flows.tasks so each call is recorded."""
    from prefect import Task

    import flows.tasks as tasks

    for task in [v for v in vars(tasks).values() if isinstance(v, Task)]:
        task.fn = _timed(task.fn, task.name, records, sampler)


def _timed(fn, name: str, records: list[dict], sampler: MemorySampler):
    @functools.wraps(fn)  # the same signature: Prefect binds the task's parameters by it
    def timed(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            end = time.perf_counter()
            records.append({"task": name, "start": start, "end": end, "cpu_start": cpu, "cpu_end": time.process_time(),
                            "peak": sampler.peak(start, end)})
    return timed


def child(args: argparse.Namespace) -> None:
    """One size: simulate, then run the weekly flow through the CLI in this process; print one JSON line."""
    limit = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    work = Path(args.work)
    sim = work / "sim"
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("vigie")), "simulate", "--districts", str(args.child),
                           "--weeks", str(args.weeks), "--seed", "0", "--out", str(sim)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"simulate failed:\n{done.stderr[-3000:]}")
    simulated = time.perf_counter() - start
    os.environ["VIGIE_COUNTRIES_DIR"] = str(sim / "countries")
    os.environ.pop("PREFECT_API_URL", None)
    sampler = MemorySampler()
    records: list[dict] = []
    from flows.cli import app  # imported here: its import is part of the run's "rest"

    _instrument(records, sampler)
    begin, cpu0 = time.perf_counter(), time.process_time()
    error = None
    try:
        app(["run", "--country", "SIM", "--events", str(sim / "events.csv"), "--home", str(work / "home")],
            standalone_mode=False)
    except MemoryError:
        error = "out of memory (address space limit of the child)"
    except BaseException as exc:  # noqa: BLE001 - reported, not raised: the bench goes on with the next size
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    wall, cpu = time.perf_counter() - begin, time.process_time() - cpu0
    events = sum(1 for _ in open(sim / "events.csv")) - 1
    print(json.dumps({"districts": args.child, "weeks": args.weeks, "events": events, "simulate_s": simulated,
                      "wall": wall, "cpu": cpu, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "tasks": records, "error": error, "failed_in": records[-1]["task"] if error and records else None}))


# ------------------------------------------------------------------------------------------ the parent


def phases(result: dict) -> dict[str, dict[str, float]]:
    """Wall, CPU and peak memory per phase. Tasks that overlap (the slots of the selection backtest, run
    concurrently) are merged into spans; a span's CPU is the process's CPU over it (so threads of native code,
    LightGBM's or BLAS's, count too: only the flow's tasks run meanwhile)."""
    out = {}
    named = {name for names in PHASES.values() for name in names}
    groups = {**PHASES, "other tasks": sorted({r["task"] for r in result["tasks"]} - named)}
    wall_in_tasks = cpu_in_tasks = 0.0
    for phase, names in groups.items():
        rows = [r for r in result["tasks"] if r["task"] in names]
        spans = _spans(rows)
        wall, cpu = sum(b - a for a, b, _ in spans), sum(c for _, _, c in spans)
        wall_in_tasks, cpu_in_tasks = wall_in_tasks + wall, cpu_in_tasks + cpu
        out[phase] = {"wall": wall, "cpu": cpu, "peak": max((r["peak"] for r in rows), default=0)}
    out["Prefect, CLI, imports, rest"] = {"wall": max(result["wall"] - wall_in_tasks, 0.0),
                                          "cpu": max(result["cpu"] - cpu_in_tasks, 0.0), "peak": 0}
    return out


def _spans(rows: list[dict]) -> list[tuple[float, float, float]]:
    """Overlapping task calls merged: (start, end, process CPU seconds over the span)."""
    out: list[list[float]] = []
    for r in sorted(rows, key=lambda r: r["start"]):
        if out and r["start"] <= out[-1][1]:
            out[-1][1], out[-1][3] = max(out[-1][1], r["end"]), max(out[-1][3], r["cpu_end"])
        else:
            out.append([r["start"], r["end"], r["cpu_start"], r["cpu_end"]])
    return [(a, b, c1 - c0) for a, b, c0, c1 in out]


def show(results: list[dict]) -> None:
    for r in results:
        status = f"FAILED in {r['failed_in']}: {r['error']}" if r["error"] else "published"
        print(f"\n{r['districts']:,} districts x {r['weeks']:,} weeks ({r['events']:,} events; simulated in "
              f"{r['simulate_s']:.0f} s): run {r['wall']:.0f} s wall, {r['cpu']:.0f} s CPU, peak "
              f"{r['peak'] / 1e9:.2f} GB: {status}")
        print(f"  {'phase':30s} {'wall s':>9s} {'CPU s':>9s} {'peak GB':>8s}")
        for phase, v in phases(r).items():
            peak = f"{v['peak'] / 1e9:8.2f}" if v["peak"] else f"{'':8s}"
            print(f"  {phase:30s} {v['wall']:9.1f} {v['cpu']:9.1f} {peak}")
    done = [r for r in results if not r["error"]]
    for small, big in zip(done, done[1:]):
        work = (big["districts"] * big["weeks"]) / (small["districts"] * small["weeks"])
        print(f"\ngrowth from {small['districts']:,} to {big['districts']:,} districts (work x{work:.0f}); "
              "cost growth / work growth, 1.0 = linear (CPU; wall for the rest):")
        a, b = phases(small), phases(big)
        for phase in a:
            key = "cpu" if a[phase]["cpu"] > 0.05 else "wall"
            if a[phase][key] > 0.05:
                print(f"  {phase:30s} {b[phase][key] / a[phase][key] / work:6.2f}")
        print(f"  {'whole run (wall)':30s} {big['wall'] / small['wall'] / work:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--districts", default="50,500,5000", help="sizes, comma-separated")
    parser.add_argument("--weeks", type=int, default=1000)
    parser.add_argument("--memory-gb", type=float, default=20.0, help="address-space limit of each size's process")
    parser.add_argument("--timeout-min", type=float, default=60.0, help="a size still running after this is stopped")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.districts.split(",")]:
            work = Path(tmp) / f"d{n}"
            command = [sys.executable, __file__, "--child", str(n), "--weeks", str(args.weeks), "--work", str(work),
                       "--memory-gb", str(args.memory_gb)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
            print(f"running {n:,} districts x {args.weeks:,} weeks ...", flush=True)
            try:
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env,
                                      timeout=args.timeout_min * 60)
            except subprocess.TimeoutExpired:
                print(f"  stopped after {args.timeout_min:g} min")
                continue
            lines = [line for line in done.stdout.splitlines() if line.startswith('{"districts"')]
            if not lines:
                print(f"  the child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
                continue
            results.append(json.loads(lines[-1]))
    show(results)


if __name__ == "__main__":
    main()
