"""The MLflow door: the logged datasets' schema (cheap, and the same as MLflow's own inference)."""

import json

import mlflow
import numpy as np
import pandas as pd

from publish import tracking


def _frame(rows: int = 500) -> pd.DataFrame:
    late_gap = np.ones(rows)
    late_gap[-1] = np.nan  # missing only after the rows the types are read from
    return pd.DataFrame({
        "district_code": pd.array([f"ML{i % 7:04d}" for i in range(rows)], dtype="str"),
        "week": pd.date_range("2020-01-06", periods=rows, freq="7D"),
        "events": np.arange(rows, dtype=np.int64),
        "share": np.linspace(0.0, 1.0, rows, dtype=np.float32),
        "weeks_since": late_gap,
    })


def test_the_dataset_schema_matches_mlflows_inference_on_every_row():
    frame = _frame()
    ours = tracking.FrameDataset.of(frame, name="feature_table", digest="abc")
    with tracking._no_integer_hint():
        theirs = mlflow.data.from_pandas(frame, name="feature_table", digest="abc")
        expected = theirs.to_dict()["schema"]
    assert json.loads(ours.to_dict()["schema"]) == json.loads(expected)
    assert not next(s for s in ours.schema.inputs if s.name == "weeks_since").required
    assert ours.profile == {"num_rows": 500, "num_elements": 2500}


def test_a_run_records_its_command_user_and_vigies_commit_without_importing_gitpython(tmp_path):
    """A fresh process opens a run as the weekly flow does: the run has its name, tags, description and MLflow's
    source tags, the commit of Vigie's checkout when there is one (CI and `make run` run from a clone), and
    GitPython, which MLflow's own context providers import for that, stays unimported."""
    import subprocess
    import sys

    probe = f"""
import sys, mlflow
from publish import tracking
tracking.configure("sqlite:///{tmp_path / 'mlflow.db'}", "{tmp_path / 'artifacts'}")
run_id = tracking.start_run("vigie-test", "week 2024-01-08", tags={{"country": "MLI"}}, params={{"p": 1}},
                            description="a week")
run = mlflow.MlflowClient().get_run(run_id)
print(repr((run.info.run_name, run.info.status, run.data.tags, "git" in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    name, status, tags, imported_git = eval(out.stdout.strip().splitlines()[-1])
    assert (name, status, imported_git) == ("week 2024-01-08", "RUNNING", False)
    assert tags["country"] == "MLI" and tags["mlflow.note.content"] == "a week" and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"] and tags["mlflow.source.name"] == "-c"
    head = subprocess.run(["git", "-C", str(tracking.CODE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert tags.get("mlflow.source.git.commit") == (head.stdout.strip() if head.returncode == 0 else None)
