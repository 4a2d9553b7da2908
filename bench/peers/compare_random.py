"""Compare the numpy peers of models/baselines.py with statsforecast on random intermittent series.

Two steps, one per environment (statsforecast pins pandas<3, the project has pandas 3):

    /tmp/peers-venv/bin/python bench/peers/compare_random.py statsforecast /tmp/peers-random.npz
    .venv/bin/python bench/peers/compare_random.py compare /tmp/peers-random.npz

The first draws the series (seeded) and stores them with statsforecast's one-step forecasts; the second
prints the largest absolute difference per method.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

LENGTHS = (2, 3, 5, 8, 13, 20, 37, 60, 156, 300)
SERIES_PER_LENGTH = 60


def draw() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for weeks in LENGTHS:
        p = rng.choice([0.01, 0.03, 0.08, 0.2, 0.5, 0.9], size=SERIES_PER_LENGTH)
        lam = rng.choice([0.5, 1, 3, 10], size=SERIES_PER_LENGTH)
        shape = (SERIES_PER_LENGTH, weeks)
        y = (rng.random(shape) < p[:, None]) * rng.poisson(lam[:, None], shape)
        y[0], y[1] = 0, 0
        y[1, -1] = 1  # an all-zero series and one with only its last week
        out[f"y{weeks}"] = y.astype(np.float64)
    return out


def statsforecast(path: str) -> None:
    from statsforecast.models import ADIDA, IMAPA, TSB, CrostonSBA

    models = {"tsb": TSB(alpha_d=0.1, alpha_p=0.1), "croston_sba": CrostonSBA(), "adida": ADIDA(), "imapa": IMAPA()}
    arrays = draw()
    for key in list(arrays):
        for method, model in models.items():
            arrays[f"{key}|{method}"] = np.array([model.forecast(y=row.copy(), h=1)["mean"][0] for row in arrays[key]])
    np.savez(path, **arrays)


def compare(path: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from models.baselines import adida_mean, croston_sba_mean, imapa_mean, tsb_mean

    functions = {"tsb": tsb_mean, "croston_sba": croston_sba_mean, "adida": adida_mean, "imapa": imapa_mean}
    stored = np.load(path)
    worst: dict[str, float] = {}
    for key in stored.files:
        if "|" in key:
            series, method = key.split("|")
            diff = float(np.abs(functions[method](stored[series]) - stored[key]).max())
            worst[method] = max(worst.get(method, 0.0), diff)
    for method, diff in worst.items():
        print(f"{method:12s} max |numpy - statsforecast| = {diff:.3g}")


if __name__ == "__main__":
    {"statsforecast": statsforecast, "compare": compare}[sys.argv[1]](sys.argv[2])
