"""The MLflow door: everything Vigie writes to or reads from MLflow (runs, figures, tables, the model
registry and the pyfunc wrappers of logged models). No other module imports mlflow.

Experiments: ``<prefix>-<country>-training`` (weekly training runs) and ``<prefix>-<country>-backtest``.
Registered models: ``<prefix>-<country>-count-h<h>`` and ``<prefix>-<country>-hazard-h<h>``; the alias
``champion`` is what the weekly flow scores with.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import warnings
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path

import httpx
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.models import infer_signature
from mlflow.types import ColSpec, Schema
from mlflow.types.utils import _infer_schema

from models.selection import ChampionInfo, SlotDecision
from models.slots import Slot
from models.training import FittedSlot
from publish.scoring import Champions
from publish.secrets import redact_url

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"

#: The model code MLflow runs to load a registered model ("models from code", see that file).
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
#: The packages whose Python files are logged with every model: the classes of the pickled model live there.
CODE_PACKAGES = ("models", "features")
PROJECT = "vigie"


@cache
def pip_requirements() -> tuple[str, ...]:
    """Vigie's own dependencies pinned to the installed versions (explicit: MLflow would otherwise infer them
    by importing the model, which takes seconds; all of them, as the logged ``models`` and ``features``
    packages import most of them)."""
    from packaging.requirements import Requirement

    names = [Requirement(r).name for r in metadata.requires(PROJECT) or [] if "extra ==" not in r]
    return tuple(f"{name}=={metadata.version(name)}" for name in names)


def _copy_code(root: Path) -> list[str]:
    """The Python files of :data:`CODE_PACKAGES` copied under ``root`` (not their data folders): the code paths
    of a logged model."""
    import shutil

    source = Path(__file__).resolve().parents[1]
    out = []
    for package in CODE_PACKAGES:
        for path in (source / package).rglob("*.py"):
            target = root / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        out.append(str(root / package))
    return out


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking store does not answer (server down, wrong address, unreadable database)."""


#: MLflow's own HTTP retry defaults wait about five minutes on a dead server; a run fails in about a minute.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
                 # a progress bar per downloaded champion means nothing in a log
                 "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                 # the pins are the installed versions: no `pip install --dry-run` (the network) to check them
                 "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true"}


def configure(tracking_uri: str, artifact_root: Path) -> None:
    """Point MLflow at the store; experiments created here keep artifacts under ``artifact_root``."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    mlflow.set_tracking_uri(tracking_uri)
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines (validating examples...) are noise here
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


@contextmanager
def _no_integer_hint():
    """MLflow's schema inference warns about every integer column (they could not hold missing values); ours
    never miss (keys and counts), and a user could do nothing about it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        yield


def log_model(model, *, kind: str, registered_name: str, example: pd.DataFrame, tags: dict[str, str] | None = None,
              description: str | None = None) -> str:
    """Log a fitted model as a pyfunc with signature and pinned requirements; register it; return its version.

    ``tags`` are set on the registered model version (spec name, data cutoff, feature catalog version...),
    ``description`` is the version's description (what it is, on what, why promoted or not).
    """
    from publish.mlflow_model import predict_frame

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(model))
        (Path(tmp) / "kind.txt").write_text(kind, encoding="utf-8")
        with _no_integer_hint():
            signature = infer_signature(example, predict_frame(model, kind, example))
            info = mlflow.pyfunc.log_model(
                name=f"{kind}_model",
                python_model=str(MODEL_CODE),
                artifacts={"model": str(path), "kind": str(Path(tmp) / "kind.txt")},
                code_paths=_copy_code(Path(tmp) / "code"),
                signature=signature,
                input_example=example,
                pip_requirements=list(pip_requirements()),
                registered_model_name=registered_name,
                await_registration_for=0,
            )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_name, version, key, str(value))
    if description:
        client.update_model_version(registered_name, version, description=description)
    return version


def alias_info(registered_name: str, alias: str = CHAMPION) -> dict | None:
    """Version, run id and tags of ``<name>@<alias>``, or None when the alias is not set."""
    try:
        mv = MlflowClient().get_model_version_by_alias(registered_name, alias)
    except mlflow.exceptions.MlflowException:
        return None
    return {"version": mv.version, "run_id": mv.run_id, "tags": dict(mv.tags or {})}


def set_alias(registered_name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(registered_name, alias, version)


def load_registered(registered_name: str, alias: str = CHAMPION):
    """The fitted Vigie model object behind ``models:/<name>@<alias>``."""
    client = MlflowClient()
    mv = client.get_model_version_by_alias(registered_name, alias)
    if mv.source.startswith("models:/m-"):  # a logged model of MLflow 3: fetch its pickle, not its code folder
        location = client.get_logged_model(mv.source.removeprefix("models:/")).artifact_location
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{location.rstrip('/')}/artifacts/model.pkl"))
    else:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{registered_name}@{alias}")) / "artifacts" / "model.pkl"
    with open(local, "rb") as fh:
        return pickle.load(fh), mv


# --------------------------------------------------------------------------------------------------
# Names, runs and what the flows log (each function resumes or opens the run it logs to)
# --------------------------------------------------------------------------------------------------


def check_tracking(tracking_uri: str, timeout: float = 10.0) -> None:
    """Fail fast, in one line, when the tracking store does not answer: a server's ``/health`` within
    ``timeout`` seconds, a local store by listing one experiment."""
    shown = redact_url(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        try:
            response = httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout)
        except httpx.HTTPError as exc:
            raise TrackingUnavailable(f"MLflow tracking server {shown} does not answer: {type(exc).__name__}: "
                                      f"{redact_url(str(exc))}") from None
        if response.status_code != 200:
            raise TrackingUnavailable(f"MLflow tracking server {shown} answered {response.status_code} to /health")
        return
    try:
        MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any failure of the store is reported as unavailable
        first = (str(exc).strip().splitlines() or [""])[0]
        raise TrackingUnavailable(f"MLflow tracking store {shown} is unavailable: {type(exc).__name__}: "
                                  f"{redact_url(first)}") from None


@contextmanager
def _resumed(run_id: str):
    """Resume run ``run_id`` for logging and leave it RUNNING (MLflow's context would mark it FINISHED: a run
    is finished only by :func:`finish_run`, so a killed run never shows as finished)."""
    with mlflow.start_run(run_id=run_id) as run:
        yield run
    MlflowClient().update_run(run_id, status="RUNNING")


#: Vigie's code: the checkout whose commit a run records, when it runs from one.
CODE_ROOT = Path(__file__).resolve().parents[1]


@cache
def run_context() -> dict[str, str]:
    """The tags MLflow's default run context gives a run (the command, its source type, the user) and the git
    commit of Vigie's code when it runs from a checkout. Not MLflow's context providers: their git lookup
    imports GitPython (half a second of a warm weekly run) and reads the checkout of ``sys.argv[0]``, which
    under a Prefect worker is the worker's, not Vigie's."""
    import getpass
    import subprocess
    import sys

    tags = {"mlflow.source.name": sys.argv[0] if sys.argv and sys.argv[0] else "<console>",
            "mlflow.source.type": "LOCAL", "mlflow.user": getpass.getuser()}
    try:
        head = subprocess.run(["git", "-C", str(CODE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return tags
    commit = head.stdout.strip()
    return tags | ({"mlflow.source.git.commit": commit} if head.returncode == 0 and commit else {})


def finish_run(run_id: str) -> None:
    MlflowClient().set_terminated(run_id, "FINISHED")


#: Rows the column types of a logged dataset are read from (MLflow's own inference visits every value of every
#: column in Python: 14 s of a 22 s weekly run for the Mali feature table).
SCHEMA_ROWS = 200


class FrameDataset(PandasDataset):
    """A pandas dataset whose schema costs milliseconds: each column's MLflow type from the first
    :data:`SCHEMA_ROWS` rows (a column holds one dtype), whether it is required (never missing) from all rows,
    vectorised. Our digest is passed in, so nothing hashes the frame either."""

    @classmethod
    def of(cls, frame: pd.DataFrame, *, name: str, digest: str) -> "FrameDataset":
        """As ``mlflow.data.from_pandas(frame, name=name, digest=digest)``: its source is the running code."""
        return cls(df=frame, source=CodeDatasetSource(tags=run_context()), name=name, digest=digest)

    @property
    def schema(self) -> Schema | None:
        frame = self.df
        with _no_integer_hint():
            sample = _infer_schema(frame.head(SCHEMA_ROWS))
        complete = frame.notna().all()
        return Schema([ColSpec(spec.type, spec.name, required=bool(complete[spec.name])) for spec in sample.inputs])


def experiment_name(prefix: str, country: str, purpose: str) -> str:
    """``<prefix>-<country>-<purpose>``: purpose "training" (weekly runs) or "backtest"."""
    return f"{prefix}-{country.lower()}-{purpose}"


def start_run(exp_name: str, run_name: str, *, tags: dict[str, str], params: dict[str, object],
              frames: dict[str, pd.DataFrame] | None = None, json_tables: dict[str, dict] | None = None,
              description: str | None = None,
              datasets: dict[str, tuple[pd.DataFrame, str, dict[str, str]]] | None = None) -> str:
    """Open a run in the experiment ``exp_name`` (created when missing), log what it is made of (tags, params,
    tables, JSON under ``tables/``), its ``description`` and its inputs as MLflow datasets (``datasets``:
    {name: (frame, digest, tags)}: the UI's "Datasets used", with the schema, our digest and tags such as the
    cutoff), and return its id."""
    opened = MlflowClient().create_run(experiment(exp_name), run_name=run_name,
                                       tags={**run_context(), **tags, **({DESCRIPTION_TAG: description} if description else {})})
    with mlflow.start_run(run_id=opened.info.run_id) as run:
        mlflow.log_params(params)
        for name, (frame, digest, dataset_tags) in (datasets or {}).items():
            dataset = FrameDataset.of(frame, name=name, digest=digest[:36])  # our digest: no hashing
            mlflow.log_input(dataset, context="training", tags=dataset_tags)
        for name, frame in (frames or {}).items():
            log_frame(frame, name)
        for name, payload in (json_tables or {}).items():
            log_json(payload, name)
    MlflowClient().update_run(run.info.run_id, status="RUNNING")
    return run.info.run_id


DESCRIPTION_TAG = "mlflow.note.content"  # what the MLflow UI shows as a run's description


def _finite(metrics: dict[str, float] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (metrics or {}).items() if np.isfinite(float(v))}


def _log_nested(nested: dict[str, tuple[dict[str, str], dict[str, float]]], experiment_id: str) -> None:
    """One run per entry ({run name: (tags, metrics)}), nested under the active run."""
    for name, (tags, metrics) in nested.items():
        with mlflow.start_run(run_name=name, nested=True, experiment_id=experiment_id):
            mlflow.set_tags(tags)
            mlflow.log_metrics(_finite(metrics))


def log_to_run(run_id: str, *, tags: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
               frames: dict[str, pd.DataFrame] | None = None, figures: dict[str, object] | None = None,
               json_tables: dict[str, dict] | None = None, texts: dict[str, str] | None = None,
               files: dict[str, Path] | None = None,
               nested: dict[str, tuple[dict[str, str], dict[str, float]]] | None = None,
               description: str | None = None) -> None:
    """Resume run ``run_id`` and log tags, metrics (non-finite ones are left out), tables (``tables/``),
    figures (``figures/``), JSON (``tables/``), texts (at their given artifact path), files (folder -> path),
    one nested run per entry of ``nested`` ({run name: (tags, metrics)}), and ``description`` appended as a new
    paragraph to the run's description."""
    with _resumed(run_id) as run:
        if tags:
            mlflow.set_tags(tags)
        if description:
            before = run.data.tags.get(DESCRIPTION_TAG, "")
            mlflow.set_tag(DESCRIPTION_TAG, f"{before}\n\n{description}" if before else description)
        finite = _finite(metrics)
        if finite:
            mlflow.log_metrics(finite)
        _log_nested(nested or {}, run.info.experiment_id)
        for name, frame in (frames or {}).items():
            log_frame(frame, name)
        for name, figure in (figures or {}).items():
            log_figure(figure, name)
        for name, payload in (json_tables or {}).items():
            log_json(payload, name)
        for path, text in (texts or {}).items():
            mlflow.log_text(text, path)
        for folder, path in (files or {}).items():
            mlflow.log_artifact(str(path), artifact_path=folder)


def fail_run(run_id: str, message: str) -> None:
    """Mark a run FAILED with the failure as a tag (first 5,000 characters)."""
    client = MlflowClient()
    client.set_tag(run_id, "failure", message[:5000])
    client.set_terminated(run_id, "FAILED")


def champion_infos(names: dict[Slot, str]) -> dict[Slot, ChampionInfo | None]:
    """What the registry records of each slot's ``@champion`` (None where the alias is not set)."""
    out = {}
    for slot, name in names.items():
        info = alias_info(name)
        out[slot] = None if info is None else ChampionInfo.from_tags(info["version"], info["tags"])
    return out


def register(fitted: FittedSlot, name: str, *, tags: dict[str, str], promote: bool, description: str | None = None) -> str:
    """Log ``fitted``'s model, register it as ``name``'s ``challenger`` (and ``champion`` when ``promote``)
    with ``description``; return the version."""
    version = log_model(fitted.model, kind=fitted.slot.kind, registered_name=name, example=fitted.example(),
                        tags=tags | {"spec": fitted.recipe, "features": ",".join(fitted.table_features),
                                     "kind": fitted.slot.kind, "horizon": str(fitted.slot.horizon)},
                        description=description)
    set_alias(name, CHALLENGER, version)
    if promote:
        set_alias(name, CHAMPION, version)
    return version


def register_all(run_id: str, fitted: dict[Slot, FittedSlot], decisions: dict[Slot, SlotDecision],
                 names: dict[Slot, str], *, tags: dict[str, str], descriptions: dict[Slot, str] | None = None) -> dict[Slot, str]:
    """:func:`register` every slot's fitted challenger, logged in run ``run_id`` and promoted as its decision
    says, with its description; returns the versions."""
    with _resumed(run_id):
        return {slot: register(f, names[slot], tags=tags, promote=decisions[slot].promote,
                               description=(descriptions or {}).get(slot)) for slot, f in fitted.items()}


def load_champions(names: dict[Slot, str]) -> Champions:
    """The fitted ``@champion`` model of every slot and its label ``<name>:v<version> (<recipe>)``."""
    models, labels, recipes = {}, {}, {}
    for slot, name in names.items():
        model, version = load_registered(name, CHAMPION)
        models[slot] = model
        recipes[slot] = (version.tags or {}).get("spec", "?")
        labels[slot] = f"{name}:v{version.version} ({recipes[slot]})"
    return Champions(models, labels, recipes)


def log_backtest_run(exp_name: str, run_name: str, *, tags: dict[str, str], params: dict[str, object],
                     frames: dict[str, pd.DataFrame], figures: dict[str, object],
                     nested: dict[str, tuple[dict[str, str], dict[str, float]]], description: str | None = None) -> str:
    """One parent run (tags, params, tables, figures, ``description``) with a nested run per model ({model:
    (tags, metrics)})."""
    exp = experiment(exp_name)
    with mlflow.start_run(experiment_id=exp, run_name=run_name, description=description) as parent:
        mlflow.set_tags(tags)
        mlflow.log_params(params)
        for name, frame in frames.items():
            log_frame(frame, name)
        for name, figure in figures.items():
            log_figure(figure, name)
        _log_nested(nested, exp)
    return parent.info.run_id


def log_bench_run(exp_name: str, run_name: str, params: dict[str, object], metrics: dict[str, float],
                  artifacts: list[Path], tracking_uri: str, *, artifact_root: Path | None = None,
                  tags: dict[str, str] | None = None) -> str:
    """One finished run of a benchmark (``bench/``) in the experiment ``exp_name`` (created when missing) of the
    store ``tracking_uri``: tags, params, metrics (non-finite ones are left out) and the files ``artifacts``
    (at the run's artifact root). ``artifact_root``: where a local store keeps a new experiment's artifacts (see
    :func:`configure`; None keeps the configured one). Returns the run id."""
    configure(tracking_uri, _ARTIFACT_ROOT if artifact_root is None else artifact_root)
    with mlflow.start_run(experiment_id=experiment(exp_name), run_name=run_name) as run:
        mlflow.set_tags(tags or {})
        mlflow.log_params(params)
        finite = _finite(metrics)
        if finite:
            mlflow.log_metrics(finite)
        for path in artifacts:
            mlflow.log_artifact(str(path))
    return run.info.run_id
