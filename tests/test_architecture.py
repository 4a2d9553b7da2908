"""The layout's rules, read from the source with ``ast``: one door per store, flows that only wire, models
reached through their contract, and no feature name parsed back.

Each rule is a function over source text, checked on the project's modules and on small hand-written
fixtures that break it (so the test would fail if a forbidden import or some logic were added).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "publish", "flows")

#: library -> the only modules that may import it (the doors).
DOORS: dict[str, set[str]] = {
    "mlflow": {"publish/tracking.py", "publish/mlflow_model.py"},  # the second is the model code MLflow runs
    "sqlalchemy": {"publish/score_store.py"},
    "duckdb": {"features/event_store.py", "publish/score_store.py"},
    "prefect": {"flows/weekly.py", "flows/backtest.py", "flows/scenario.py", "flows/tasks.py", "flows/cli.py",
                "flows/prefect_api.py"},
}
#: Modules that only wire: calls, assignments, returns, ``if`` on a value, ``try``; nothing that decides.
WIRING = ("flows/weekly.py", "flows/backtest.py", "flows/scenario.py", "flows/tasks.py", "flows/cli.py")
#: The pipeline around the models: it calls the model contract, never getattr/hasattr.
PIPELINE = ("flows", "publish", "models/backtest.py", "models/training.py", "models/selection.py")

LOGIC_NODES = (ast.Compare, ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp,
               ast.GeneratorExp, ast.Lambda, ast.BinOp, ast.AugAssign)


def modules(*roots: str) -> list[Path]:
    out = []
    for root in roots:
        path = ROOT / root
        out += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return [p for p in out if "data" not in p.relative_to(ROOT).parts]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module the source imports (at any depth: module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def door_violations(source: str, module: str) -> list[str]:
    """Libraries ``module`` imports although it is not one of their doors."""
    return sorted(lib for lib in imported_roots(source) & set(DOORS) if module not in DOORS[lib])


def logic_in_functions(source: str) -> list[str]:
    """Decisions inside function bodies: comparisons, loops, comprehensions, lambdas, arithmetic."""
    found = []
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in fn.body:
                for node in ast.walk(stmt):
                    if isinstance(node, LOGIC_NODES):
                        found.append(f"{fn.name}:{node.lineno}: {type(node).__name__}")
    return found


def attribute_probes(source: str) -> list[str]:
    """Calls of getattr/hasattr (what the pipeline must not use on models)."""
    return [f"{node.lineno}: {node.func.id}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")]


def regex_use(source: str) -> list[str]:
    return sorted(imported_roots(source) & {"re", "regex"})


# --------------------------------------------------------------------------------------------------
# The rules hold for the project
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", modules(*PACKAGES), ids=rel)
def test_each_store_and_engine_has_one_door(path):
    assert door_violations(path.read_text(), rel(path)) == []


@pytest.mark.parametrize("module", WIRING)
def test_flow_modules_only_wire(module):
    assert logic_in_functions((ROOT / module).read_text()) == []


@pytest.mark.parametrize("path", modules(*PIPELINE), ids=rel)
def test_the_pipeline_uses_the_model_contract_not_attribute_probes(path):
    assert attribute_probes(path.read_text()) == []


@pytest.mark.parametrize("path", modules("models"), ids=rel)
def test_models_never_parse_feature_names(path):
    assert regex_use(path.read_text()) == []


def test_every_door_exists():
    for doors in DOORS.values():
        for module in doors:
            assert (ROOT / module).exists(), module


# --------------------------------------------------------------------------------------------------
# ... and the checks catch what breaks them
# --------------------------------------------------------------------------------------------------

FORBIDDEN_IMPORTS = {
    "import mlflow\n": "mlflow",
    "from mlflow import MlflowClient\n": "mlflow",
    "def f():\n    import duckdb\n": "duckdb",
    "import sqlalchemy as sa\n": "sqlalchemy",
    "from prefect import task\n": "prefect",
}


@pytest.mark.parametrize("source", FORBIDDEN_IMPORTS, ids=list(FORBIDDEN_IMPORTS.values()))
def test_a_forbidden_import_is_caught(source):
    assert door_violations(source, "models/count_new.py") == [FORBIDDEN_IMPORTS[source]]
    assert door_violations(source, "features/panel.py") == [FORBIDDEN_IMPORTS[source]]


def test_a_door_may_import_its_library():
    assert door_violations("import mlflow\nimport numpy\n", "publish/tracking.py") == []
    assert door_violations("import duckdb\n", "features/event_store.py") == []


LOGIC = {
    "compare": "def f(a, b):\n    if a['crps'] < b['crps']:\n        return a\n",
    "loop": "def f(xs):\n    for x in xs:\n        g(x)\n",
    "comprehension": "def f(xs):\n    return [g(x) for x in xs]\n",
    "arithmetic": "def f(w):\n    return w - 7\n",
    "lambda": "def f(xs):\n    return sorted(xs, key=lambda x: x[1])\n",
}


@pytest.mark.parametrize("name", LOGIC)
def test_logic_in_a_flow_is_caught(name):
    assert logic_in_functions(LOGIC[name])


def test_wiring_passes():
    wiring = ("def flow(settings=None, events=None):\n    settings = settings or Settings()\n"
              "    reports = ingest(events, settings)\n    if reports:\n        publish(reports)\n"
              "    return summary(reports, week=f'{settings.week}')\n")
    assert logic_in_functions(wiring) == []


def test_attribute_probes_and_regex_are_caught():
    assert attribute_probes("def f(m):\n    return getattr(m, 'history_weeks', 0)\n")
    assert attribute_probes("def f(m):\n    return hasattr(m, 'contributions')\n")
    assert regex_use("import re\n") == ["re"]
