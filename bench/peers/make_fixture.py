"""Write the oracle fixture of the statsforecast peers: tests/models/fixtures/peers_statsforecast.json.

Run once, in a separate environment that has statsforecast (it pins pandas<3, so it cannot live in the
project's venv); see bench/peers/README.md:

    python3.11 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install statsforecast==2.1.1 'pandas<3'
    /tmp/peers-venv/bin/python bench/peers/make_fixture.py

For each hand-made series below (weekly counts, oldest week first) it stores the one-step-ahead forecast mean
that each model's own ``forecast(y, h=1)`` returns: TSB(alpha_d=0.1, alpha_p=0.1), CrostonSBA, ADIDA and
IMAPA. The series are given as float64 arrays, as :func:`models.baselines.lag_matrix` reads them.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from statsforecast.models import ADIDA, IMAPA, TSB, CrostonSBA

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "models" / "fixtures" / "peers_statsforecast.json"
COMMAND = "/tmp/peers-venv/bin/python bench/peers/make_fixture.py"

MODELS = {
    "tsb": TSB(alpha_d=0.1, alpha_p=0.1),
    "croston_sba": CrostonSBA(),
    "adida": ADIDA(),
    "imapa": IMAPA(),
}


def _series() -> dict[str, list[int]]:
    """The hand-made series; the four of length 156 (the models' default history) are also tested stacked."""
    t52, t156, t160 = np.arange(52), np.arange(156), np.arange(160)
    out = {
        "all_zeros_30": [0] * 30,
        "one_spike_40": [0] * 17 + [5] + [0] * 22,
        "only_last_week_24": [0] * 23 + [2],
        "constant_ones_26": [1] * 26,
        "short_sparse_20": [0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        "burst_60": [0] * 30 + [2, 5, 9, 4, 1] + [0] * 25,
        "trend_52": (t52 // 6).tolist(),
        "leading_zeros_then_activity_80": [0] * 50 + [1, 0, 2, 3, 0, 1, 4, 0, 0, 2, 5, 1, 0, 3, 2, 0, 1, 6, 2, 0,
                                                     3, 1, 0, 4, 2, 1, 0, 2, 3, 1],
        "ending_in_zeros_70": [3, 1, 0, 2, 4, 0, 1, 5, 2, 0, 3, 2, 1, 0, 4, 2, 0, 1, 3, 2,
                               1, 0, 2, 4, 1, 0, 3, 1, 2, 0, 1, 2, 0, 3, 1, 0, 2, 1, 0, 1] + [0] * 30,
        # length 156: the default history of the models
        "two_events_156": [0] * 39 + [1] + [0] * 79 + [2] + [0] * 36,
        "sparse_013_156": [(3 if k % 23 == 5 else 1) if (k * 7) % 11 in (2, 9) else 0 for k in t156.tolist()],
        "dense_156": (2 + (t156 * 5) % 7 + (t156 % 13 == 0) * 6).tolist(),
        "leading_zeros_156": [0] * 120 + [(k * 3) % 4 for k in range(36)],
        "sparse_long_160": [(1 + k % 3) if (k * 13) % 17 == 4 else 0 for k in t160.tolist()],
    }
    return {name: [int(v) for v in values] for name, values in out.items()}


def main() -> None:
    series = []
    for name, values in _series().items():
        y = np.asarray(values, dtype=np.float64)
        means = {method: float(model.forecast(y=y.copy(), h=1)["mean"][0]) for method, model in MODELS.items()}
        series.append({"name": name, "y": values, "mean": means})
    doc = {
        "description": "one-step-ahead forecast means (events per week) of statsforecast's intermittent-demand "
                       "models, each model's forecast(y=float64 array oldest week first, h=1)['mean'][0]",
        "models": {"tsb": "TSB(alpha_d=0.1, alpha_p=0.1)", "croston_sba": "CrostonSBA()", "adida": "ADIDA()",
                   "imapa": "IMAPA()"},
        "versions": {"statsforecast": version("statsforecast"), "numpy": np.__version__,
                     "pandas": version("pandas"), "scipy": version("scipy"),
                     "python": platform.python_version()},
        "command": COMMAND,
        "series": series,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1)
    OUT.write_text(text + "\n")
    print(f"wrote {OUT} ({len(text)} bytes, {len(series)} series)", file=sys.stderr)


if __name__ == "__main__":
    main()
