"""Vigie's wiring: the Prefect flows, their tasks, the ``vigie`` command and its settings.

Nothing leaves the machine at run time unless a user asks for it (the ACLED/UCDP clients): MLflow's and
Prefect's client telemetry are off unless the environment already says otherwise. Set here, before any flow
module imports mlflow (whose telemetry client is chosen when it is imported)."""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
