"""MLflow packaging of Vigie models: a pyfunc that returns the predictive summary for each input row."""

from __future__ import annotations

import pickle
from importlib import metadata

import mlflow.pyfunc
import numpy as np
import pandas as pd

#: The distributions the logged models need at inference; pinned to what trained them.
RUNTIME_PACKAGES = ["numpy", "pandas", "scipy", "statsmodels", "scoringrules", "lightgbm", "scikit-learn", "cloudpickle"]


def pip_requirements() -> list[str]:
    """Explicit pins (MLflow would otherwise infer them by importing the model, which takes seconds)."""
    return [f"{name}=={metadata.version(name)}" for name in RUNTIME_PACKAGES]


class CountModelPyfunc(mlflow.pyfunc.PythonModel):
    """Input: feature rows. Output: mean, P(count >= 1) and 5/10/50/90/95% quantiles of the horizon's count."""

    def load_context(self, context):
        with open(context.artifacts["model"], "rb") as fh:
            self.model = pickle.load(fh)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        dist = self.model.predict(model_input)
        out = {"mean": dist.mean, "p_at_least_1": dist.prob_at_least(1)}
        for q in (0.05, 0.1, 0.5, 0.9, 0.95):
            out[f"q{int(q * 100):02d}"] = dist.quantile(q)
        return pd.DataFrame(out, index=model_input.index)


class HazardModelPyfunc(mlflow.pyfunc.PythonModel):
    """Input: feature rows. Output: probability of a major attack within the model's horizon."""

    def load_context(self, context):
        with open(context.artifacts["model"], "rb") as fh:
            self.model = pickle.load(fh)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame({"p_major_attack": np.asarray(self.model.predict_proba(model_input))}, index=model_input.index)
