"""Benchmark of the whole weekly flow at growing sizes: simulated grid countries of 50, 500 and 5,000 districts
over 1,000 weeks, each run end to end exactly as a user would (`vigie simulate --districts N`, then `vigie run`
on that country: ingest, features, withdrawal evidence, the selection backtest, training, MLflow, scoring,
gates, publish, exports and the report). Prints figures; asserts nothing.

Each size runs in a child process of its own (a fresh home, its own memory peak, an address-space limit so a
size that needs more memory than the machine fails alone instead of the machine), timed task by task by
bench/phases.py (wall, CPU and peak memory per phase; see there).

For each phase the table prints the growth of its cost against the growth of the work (districts x weeks)
from one size to the next: 1.0 is linear, above 1 faster than linear.

Usage: ``.venv/bin/python bench/scale.py [--districts 50,500,5000] [--weeks 1000] [--memory-gb 20]``
(about 10 minutes for 50 and 500; the 5,000-district size is the target: < 15 min, < 8 GB on 2 cores).
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

from phases import phases, show_phases

ROOT = Path(__file__).resolve().parents[1]

def child(args: argparse.Namespace) -> None:
    """One size: simulate, then the weekly run on it through bench/phases.py; print one JSON line."""
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
    env = {**os.environ, "VIGIE_COUNTRIES_DIR": str(sim / "countries")}
    env.pop("PREFECT_API_URL", None)
    out = work / "phases.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "phases.py"), str(out), "--", "run", "--country", "SIM",
                    "--events", str(sim / "events.csv"), "--home", str(work / "home")], env=env, cwd=ROOT,
                   capture_output=True, text=True)
    if not out.exists():
        raise SystemExit("the run died before writing its figures (killed: out of memory?)")
    events = sum(1 for _ in open(sim / "events.csv")) - 1
    print(json.dumps({"districts": args.child, "weeks": args.weeks, "events": events, "simulate_s": simulated,
                      **json.loads(out.read_text())}))


# ------------------------------------------------------------------------------------------ the parent


def show(results: list[dict]) -> None:
    for r in results:
        status = f"FAILED in {r['failed_in']}: {r['error']}" if r["error"] else "published"
        print(f"\n{r['districts']:,} districts x {r['weeks']:,} weeks ({r['events']:,} events; simulated in "
              f"{r['simulate_s']:.0f} s): run {r['wall']:.0f} s wall, {r['cpu']:.0f} s CPU, peak "
              f"{r['peak'] / 1e9:.2f} GB: {status}")
        show_phases(r)
    done = [r for r in results if not r["error"]]
    for small, big in zip(done, done[1:]):
        work = (big["districts"] * big["weeks"]) / (small["districts"] * small["weeks"])
        print(f"\ngrowth from {small['districts']:,} to {big['districts']:,} districts (work x{work:.0f}); "
              "cost growth / work growth, 1.0 = linear (CPU; wall for the rest):")
        a, b = phases(small), phases(big)
        for phase in a:
            key = "cpu" if a[phase]["cpu"] > 0.05 else "wall"
            if a[phase][key] > 0.05:
                print(f"  {phase:34s} {b[phase][key] / a[phase][key] / work:6.2f}")
        print(f"  {'whole run (wall)':34s} {big['wall'] / small['wall'] / work:6.2f}")


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
