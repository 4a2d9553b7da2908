"""The peer ratio of the feature build: Vigie against mlforecast's ``preprocess``, same features, one run.

Both build, from the same weekly counts of violent events (a seeded negative-binomial panel, default 5,000
districts x 1,000 weeks), lags 1 to 52 and rolling means of the 4, 13 and 52 weeks before each week. Vigie's
build (``features.attacks.window_features``) runs in this process; mlforecast 1.x pins ``pandas<3``, so its
``MLForecast.preprocess`` runs in a child process of its own venv, on the same counts (a ``.npy`` file). Each
side is timed around its build only (wall and CPU), its peak memory is its own process's, and both run in the
same invocation so the ratio is fair on a busy machine. The two results are compared on a sample of cells.

    python3.11 -m venv /tmp/mlf-venv
    /tmp/mlf-venv/bin/pip install mlforecast==1.1.0 'pandas<3'
    .venv/bin/python bench/mlforecast_ratio.py --peer-python /tmp/mlf-venv/bin/python [--districts N] [--weeks N]

Prints figures; asserts nothing. Issue 15 asks the ratio (mlforecast time / Vigie time) to stay at least 5.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LAGS = tuple(range(1, 53))
MEANS = (4, 13, 52)

#: The peer's side, run by the other venv's Python: argv = counts.npy, out.npz, sample.npy.
PEER = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean

counts = np.load(sys.argv[1])
n_d, n_w = counts.shape
df = pd.DataFrame({"unique_id": np.repeat(np.arange(n_d), n_w),
                   "ds": np.tile(pd.date_range("2000-01-03", periods=n_w, freq="W-MON"), n_d),
                   "y": counts.ravel().astype("float32")})
fcst = MLForecast(models=[], freq="W-MON", lags=list(range(1, 53)),
                  lag_transforms={1: [RollingMean(window_size=w, min_samples=1) for w in (4, 13, 52)]})
wall, cpu = time.perf_counter(), time.process_time()
out = fcst.preprocess(df, dropna=False)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
sample = np.load(sys.argv[3])
cols = [c for c in out.columns if c.startswith("lag") or c.startswith("rolling")]
values = out[cols].to_numpy()[sample]
np.save(sys.argv[2], values)
print(json.dumps({"wall": wall, "cpu": cpu, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
                  "columns": cols, "n_features": len(cols),
                  "versions": {"mlforecast": __import__("mlforecast").__version__, "pandas": pd.__version__}}))
"""


def weekly_counts(n_districts: int, n_weeks: int, seed: int = 0) -> np.ndarray:
    """Seeded negative-binomial weekly counts: log-normal district rates, dispersion 1.5 (float32)."""
    rng = np.random.default_rng(seed)
    rate = np.exp(rng.normal(np.log(0.25), 1.0, n_districts))[:, None]
    return rng.poisson(rng.gamma(1.5, np.broadcast_to(rate / 1.5, (n_districts, n_weeks)))).astype(np.float32)


def vigie_build(counts: np.ndarray) -> tuple[dict[str, np.ndarray], float, float]:
    """Vigie's lags and window sums (divided by the window for the means) of ``counts``; wall and CPU seconds."""
    import pandas as pd

    from features.attacks import WindowSet, window_features
    from features.panel import Panel
    from features.spatial import SCOPE_PREFIXES, Scope

    n_d, n_w = counts.shape
    panel = Panel(pd.Index([f"D{i}" for i in range(n_d)]), pd.date_range("2000-01-03", periods=n_w, freq="7D"),
                  {"violent_events": counts}, {"violent_events": ("violent events", "events")})
    recipe = [WindowSet("peer_ratio", ("violent_events",), lags=LAGS, windows=MEANS)]
    scopes = {"own": Scope("own", SCOPE_PREFIXES["own"], "in the district")}
    wall, cpu = time.perf_counter(), time.process_time()
    block = window_features(panel, recipe, scopes)
    means = {s.name: block.values[s.name] / np.float32(s.window_weeks) for s in block.specs if s.statistic == "sum"}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    lags = [block.values[s.name] for s in block.specs if s.statistic == "lag"]
    return {"lags": lags, "means": [means[k] for k in sorted(means, key=lambda n: int(n.rsplit("w", 1)[1]))]}, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-python", required=True, help="Python of the venv with mlforecast (pandas<3)")
    parser.add_argument("--districts", type=int, default=5000)
    parser.add_argument("--weeks", type=int, default=1000)
    args = parser.parse_args()

    counts = weekly_counts(args.districts, args.weeks)
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(counts.size, 2000, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/counts.npy", counts)
        np.save(f"{tmp}/sample.npy", sample)
        done = subprocess.run([args.peer_python, "-c", PEER, f"{tmp}/counts.npy", f"{tmp}/peer.npy",
                               f"{tmp}/sample.npy"], capture_output=True, text=True, check=True)
        peer = json.loads(done.stdout.strip().splitlines()[-1])
        peer_values = np.load(f"{tmp}/peer.npy")

    built, wall, cpu = vigie_build(counts)
    ours = np.column_stack([np.concatenate([x.ravel()[sample][:, None] for x in built["lags"]], axis=1),
                            np.column_stack([m.ravel()[sample] for m in built["means"]])])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    # Compared where both windows are whole (week 52 on): before it mlforecast leaves lags NaN and averages the
    # weeks it has, Vigie counts 0 events before the panel (a partial sum over the whole window)
    both = ~np.isnan(peer_values) & (sample % args.weeks >= max(LAGS))[:, None]
    largest = float(np.max(np.abs(ours[both] - peer_values[both]))) if both.any() else float("nan")

    print(f"panel: {args.districts:,} districts x {args.weeks:,} weeks; {len(LAGS)} lags + means {MEANS} "
          f"({len(LAGS) + len(MEANS)} features each; mlforecast made {peer['n_features']})")
    print(f"  vigie      : {wall:7.2f} s wall, {cpu:7.2f} s CPU, peak {peak:5.2f} GB (whole process, counts included)")
    print(f"  mlforecast : {peer['wall']:7.2f} s wall, {peer['cpu']:7.2f} s CPU, peak {peer['peak_gb']:5.2f} GB "
          f"({peer['versions']})")
    print(f"  ratio (mlforecast / vigie): wall {peer['wall'] / wall:.1f}x, CPU {peer['cpu'] / cpu:.1f}x "
          f"(target: at least 5x)")
    print(f"  same values on {int(both.sum()):,} sampled cells (weeks 52 on): largest difference {largest:.2e}")


if __name__ == "__main__":
    main()
