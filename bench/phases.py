"""A `vigie` command timed phase by phase, shared by bench/weekly_speed.py and bench/scale.py.

``python bench/phases.py OUT.json -- <vigie arguments>`` runs the command in this process, as typed, with the
function of every Prefect task of flows/tasks.py wrapped so each call records its wall seconds, the process's
CPU seconds meanwhile and the peak resident memory of the process meanwhile (sampled every 20 ms), and writes
{"wall", "cpu", "peak", "tasks": [...], "error"} to OUT.json. Wall and CPU count from the start of this
script, imports included. The instrumented command imports the flow's modules before it starts its temporary
Prefect server (the plain command overlaps the two): time the plain command for its wall, this for shares.

:func:`phases` groups the calls into :data:`PHASES`. Calls that overlap (the selection backtest's slots, run
concurrently on the task runner) are merged into spans, and a span's CPU is the process's CPU over it, so
native threads (LightGBM's, BLAS's) count too; "Prefect, CLI, imports, rest" is what no task covers.
"""

from __future__ import annotations

import time

STARTED, STARTED_CPU = time.perf_counter(), time.process_time()

import functools  # noqa: E402 - the clock starts before any import
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: phase -> Prefect task names (flows/tasks.py) whose calls are the phase's.
PHASES = {
    "ingest": ["ingest", "load-events", "event-store-summary"],
    "features": ["build-features"],
    "withdrawal evidence": ["weekly-withdrawal-evidence", "log-withdrawal-evidence", "keep-withdrawal-study"],
    "selection backtest": ["selection-backtest", "combine-backtests", "decide-promotions", "check-major-attacks"],
    "training (final fits)": ["fit-challengers"],
    "MLflow (runs, registry, figures)": ["check-infrastructure", "start-tracking-run", "register-models",
                                         "log-training", "write-skill", "champion-infos", "load-champions",
                                         "log-outputs", "finish-tracking-run"],
    "scoring": ["score-week", "previous-scores", "published-forecasts"],
    "gates": ["freshness-gate", "quality-gates", "check-champions", "retrain-reason"],
    "publish": ["publish", "acquire-lease", "release-lease"],
    "exports and report": ["stage-outputs", "commit-outputs", "prefect-artifacts"],
}
REST = "Prefect, CLI, imports, rest"


class MemorySampler:
    """The process's resident memory, sampled every ``every`` seconds by a daemon thread."""

    def __init__(self, every: float = 0.02):
        self.samples: list[tuple[float, int]] = []
        self._page = os.sysconf("SC_PAGE_SIZE")
        threading.Thread(target=self._run, args=(every,), daemon=True).start()

    def rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def _run(self, every: float) -> None:
        while True:
            self.samples.append((time.perf_counter(), self.rss()))
            time.sleep(every)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end + 0.02]
        return max(inside) if inside else self.rss()


def instrument(records: list[dict], sampler: MemorySampler) -> None:
    """Wrap the function of every Prefect task of flows.tasks so that each call appends a record."""
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
            records.append({"task": name, "start": start, "end": end, "cpu_start": cpu,
                            "cpu_end": time.process_time(), "peak": sampler.peak(start, end)})
    return timed


def run(vigie_args: list[str]) -> dict:
    """The command run in this process, instrumented; never raises (a failure is the result's "error")."""
    sampler, records = MemorySampler(), []
    error = None
    try:
        from flows.cli import app

        instrument(records, sampler)
        app(vigie_args, standalone_mode=False)
    except MemoryError:
        error = "out of memory (the process's address-space limit)"
    except BaseException as exc:  # noqa: BLE001 - reported, not raised: the bench goes on
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    return {"wall": time.perf_counter() - STARTED, "cpu": time.process_time() - STARTED_CPU,
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "tasks": records, "error": error,
            "failed_in": records[-1]["task"] if error and records else None}


def phases(result: dict) -> dict[str, dict[str, float]]:
    """{phase: {"wall", "cpu", "peak"}} of one :func:`run` result, :data:`REST` last."""
    named = {name for names in PHASES.values() for name in names}
    groups = {**PHASES, "other tasks": sorted({r["task"] for r in result["tasks"]} - named)}
    out, wall_in_tasks, cpu_in_tasks = {}, 0.0, 0.0
    for phase, names in groups.items():
        rows = [r for r in result["tasks"] if r["task"] in names]
        spans = _spans(rows)
        wall, cpu = sum(b - a for a, b, _ in spans), sum(c for _, _, c in spans)
        wall_in_tasks, cpu_in_tasks = wall_in_tasks + wall, cpu_in_tasks + cpu
        out[phase] = {"wall": wall, "cpu": cpu, "peak": max((r["peak"] for r in rows), default=0)}
    out[REST] = {"wall": max(result["wall"] - wall_in_tasks, 0.0), "cpu": max(result["cpu"] - cpu_in_tasks, 0.0),
                 "peak": 0}
    return out


def _spans(rows: list[dict]) -> list[tuple[float, float, float]]:
    """Overlapping calls merged: (start, end, process CPU seconds over the span)."""
    out: list[list[float]] = []
    for r in sorted(rows, key=lambda r: r["start"]):
        if out and r["start"] <= out[-1][1]:
            out[-1][1], out[-1][3] = max(out[-1][1], r["end"]), max(out[-1][3], r["cpu_end"])
        else:
            out.append([r["start"], r["end"], r["cpu_start"], r["cpu_end"]])
    return [(a, b, c1 - c0) for a, b, c0, c1 in out]


def show_phases(result: dict, indent: str = "  ") -> None:
    """The phase table of one result: wall, its share of the run, CPU and peak memory."""
    print(f"{indent}{'phase':34s} {'wall s':>8s} {'share':>6s} {'CPU s':>8s} {'peak GB':>8s}")
    for phase, v in phases(result).items():
        if phase == "other tasks" and v["wall"] < 0.05:
            continue
        peak = f"{v['peak'] / 1e9:8.2f}" if v["peak"] else f"{'':8s}"
        print(f"{indent}{phase:34s} {v['wall']:8.1f} {v['wall'] / result['wall']:6.1%} {v['cpu']:8.1f} {peak}")


def main() -> None:
    out, vigie_args = Path(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]
    out.write_text(json.dumps(run(vigie_args)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
