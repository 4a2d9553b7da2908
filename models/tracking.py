"""Everything Vigie writes to or reads from MLflow (the only module that talks to it).

Experiments: ``<prefix>-<country>-training`` (weekly training runs) and ``<prefix>-<country>-backtest``.
Registered models: ``<prefix>-<country>-count-h<h>`` and ``<prefix>-<country>-hazard-h<h>``; the alias
``champion`` is what the weekly flow scores with.
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from models.pyfunc import CountModelPyfunc, HazardModelPyfunc, pip_requirements

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"


def configure(tracking_uri: str, artifact_root: Path) -> None:
    """Point MLflow at the store; experiments created here keep artifacts under ``artifact_root``."""
    mlflow.set_tracking_uri(tracking_uri)
    global _ARTIFACT_ROOT
    _ARTIFACT_ROOT = Path(artifact_root)


_ARTIFACT_ROOT = Path("mlartifacts")


def experiment(name: str) -> str:
    """Id of the experiment ``name``, created when missing. With a local store its artifacts go under the
    configured artifact root; a tracking server decides for itself (``--artifacts-destination``)."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    if mlflow.get_tracking_uri().startswith(("http://", "https://")):
        return mlflow.create_experiment(name)
    location = (_ARTIFACT_ROOT / name).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def flatten(prefix: str, value) -> dict[str, str]:
    """Nested settings as flat MLflow params ({'major_attack.min_fatalities': '5', ...})."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else k, v))
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else str(value)}


def log_frame(frame: pd.DataFrame, name: str) -> None:
    """Log a table as CSV artifact (and JSON for machine reading)."""
    with tempfile.TemporaryDirectory() as tmp:
        frame.to_csv(Path(tmp) / f"{name}.csv", index=False)
        frame.to_json(Path(tmp) / f"{name}.json", orient="records", date_format="iso", indent=1)
        mlflow.log_artifacts(tmp, artifact_path="tables")


def log_figure(figure, name: str) -> None:
    """Log a matplotlib figure as ``figures/<name>.png``."""
    mlflow.log_figure(figure, f"figures/{name}.png")


def log_json(payload: dict, name: str) -> None:
    mlflow.log_dict(payload, f"tables/{name}.json")


def log_model(model, *, kind: str, registered_name: str, example: pd.DataFrame, tags: dict[str, str] | None = None) -> str:
    """Log a fitted model as a pyfunc with signature and pinned requirements; register it; return its version.

    ``tags`` are set on the registered model version (spec name, data cutoff, feature catalog version...).
    """
    wrapper = CountModelPyfunc() if kind == "count" else HazardModelPyfunc()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(model))
        output = wrapper.__class__()
        output.model = model
        signature = infer_signature(example, output.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name=f"{kind}_model",
            python_model=wrapper,
            artifacts={"model": str(path)},
            signature=signature,
            pip_requirements=pip_requirements(),
            registered_model_name=registered_name,
            await_registration_for=0,
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_name, version, key, str(value))
    return version


def alias_info(registered_name: str, alias: str = CHAMPION) -> dict | None:
    """Version, run id and tags of ``<name>@<alias>``, or None when the alias is not set."""
    try:
        mv = MlflowClient().get_model_version_by_alias(registered_name, alias)
    except mlflow.exceptions.MlflowException:
        return None
    return {"version": mv.version, "run_id": mv.run_id, "tags": dict(mv.tags or {})}


def champion_version(registered_name: str) -> str | None:
    try:
        return MlflowClient().get_model_version_by_alias(registered_name, CHAMPION).version
    except mlflow.exceptions.MlflowException:
        return None


def set_alias(registered_name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(registered_name, alias, version)


def load_registered(registered_name: str, alias: str = CHAMPION):
    """The fitted Vigie model object behind ``models:/<name>@<alias>``."""
    client = MlflowClient()
    mv = client.get_model_version_by_alias(registered_name, alias)
    local = mlflow.artifacts.download_artifacts(f"models:/{registered_name}@{alias}")
    with open(Path(local) / "artifacts" / "model.pkl", "rb") as fh:
        return pickle.load(fh), mv
