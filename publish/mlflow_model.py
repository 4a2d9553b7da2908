"""The MLflow pyfunc of every registered Vigie model, logged as code ("models from code").

MLflow runs this file when it loads a model, so it imports nothing of Vigie at module level: the fitted
model is a pickle (``artifacts["model"]``) whose classes live in Vigie's ``models`` and ``features``
packages, and those are logged with the model (``code/``), so ``mlflow models serve -m
models:/<name>@champion`` loads it in an environment that has only the pinned requirements.

Input: feature rows (the model's ``input_columns``). Output of a count model (the ``kind`` artifact holds
"count"): the horizon's expected events (``mean``), P(count >= 1) and the 5/10/50/90/95% quantiles; of a
hazard model: ``p_major_attack``, the probability of a major attack within its horizon.
"""

from __future__ import annotations

import pickle

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)


def predict_frame(model, kind: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc output of ``model`` (a fitted Vigie count or hazard model) on ``rows``."""
    if kind == "hazard":
        return pd.DataFrame({"p_major_attack": np.asarray(model.predict_proba(rows), dtype=np.float64)}, index=rows.index)
    dist = model.predict(rows)
    out = {"mean": dist.mean, "p_at_least_1": dist.prob_at_least(1)}
    out |= {f"q{int(q * 100):02d}": dist.quantile(q) for q in QUANTILES}
    return pd.DataFrame(out, index=rows.index)


class VigieModel(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["model"], "rb") as fh:
            self.model = pickle.load(fh)
        with open(context.artifacts["kind"], encoding="utf-8") as fh:
            self.kind = fh.read().strip()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return predict_frame(self.model, self.kind, model_input)


mlflow.models.set_model(VigieModel())
