"""The README documents what consumers and users rely on: it must not drift from the code."""

import json
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.schema import EVENT_COLUMNS
from flows.cli import app
from publish.schema import PUBLICATION_COLUMNS, SCENARIO_COLUMNS, SCORE_COLUMNS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
COUNTRIES = Path(__file__).resolve().parent / "fixtures" / "countries"
runner = CliRunner()


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_every_score_and_event_column_is_documented():
    for name in [*SCORE_COLUMNS, *PUBLICATION_COLUMNS, *SCENARIO_COLUMNS, *EVENT_COLUMNS]:
        assert f"| `{name}` |" in README, name


def test_every_command_is_documented():
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"`vigie {name}" in README, name


def test_quickstart_has_the_two_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make run" in quickstart and "make test" in quickstart


def _documented_commands(marker: str) -> list[str]:
    block = README.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("```")]


@pytest.mark.integration
def test_adding_a_country_runs_as_written(tmp_path, monkeypatch, prefect_harness):
    """The "Adding a country" commands, run as the README writes them, on Arcadia copied to countries/XAA:
    a country added by data files alone is checked, simulated, ingested, modelled and published; then the rest
    of what a country must support (backtest, catalog, refusals) on the same home."""
    shutil.copytree(COUNTRIES / "XAA", tmp_path / "countries" / "XAA")
    monkeypatch.chdir(tmp_path)
    env = {"VIGIE_HOME": str(tmp_path / ".vigie")}
    outputs = {}
    for line in _documented_commands("adding-a-country"):
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = value.replace("$PWD", str(tmp_path))
            continue
        words = shlex.split(line)
        assert words[0] == ".venv/bin/vigie", line
        result = runner.invoke(app, [*words[1:], "--json"] if "--json" not in words and words[1] != "scores" else words[1:],
                               env=env)
        assert result.exit_code == 0, f"{line}\n{result.output[-3000:]}"
        outputs[words[1]] = result.stdout
    assert env["VIGIE_COUNTRIES_DIR"] == str(tmp_path / "countries")

    check = _last_json(outputs["gazetteer"])
    assert (check["iso3"], check["name"], check["n_districts"], check["isolated"]) == ("XAA", "Arcadia", 6, [])
    assert "foreign_forces.csv" in " ".join(check["problems"]) and Path(check["page"]).is_file()
    ingested = _last_json(outputs["ingest"])
    assert ingested["assigned_share"] == 1.0 and ingested["rows"] > 1000
    run = _last_json(outputs["run"])
    assert (run["country"], run["districts"], run["rows_published"]) == ("XAA", 6, 18)
    report = Path(run["outputs"]["report"]).read_text()
    assert "Arcadia" in report and "Delmar" in report
    assert "Farrow" in outputs["scores"] and "XAA" in outputs["scores"]

    backtest = runner.invoke(app, ["backtest", "--country", "XAA", "--events", "sim-xaa/events.csv", "--start",
                                   "2020-06-01", "--horizons", "1,4", "--refit-every", "26", "--json"], env=env)
    assert backtest.exit_code == 0, backtest.output[-3000:]
    assert _last_json(backtest.stdout)["country"] == "XAA"
    catalog = _last_json(runner.invoke(app, ["features", "--list", "--country", "XAA", "--json"], env=env).stdout)
    assert "political_calendar" in catalog["families"] and "foreign_presence" not in catalog["families"]
    refused = runner.invoke(app, ["withdrawals", "--country", "XAA", "--events", "sim-xaa/events.csv", "--json"],
                            env=env)
    assert refused.exit_code == 2 and "no foreign-force registry" in _last_json(refused.stdout)["error"]
    ambiguous = runner.invoke(app, ["scores", "--format", "json"], env=env)
    assert ambiguous.exit_code == 2 and "several countries are available (MLI, XAA)" in ambiguous.output
    unknown = runner.invoke(app, ["run", "--country", "NER", "--json"], env=env)
    assert unknown.exit_code == 2 and "no country NER" in _last_json(unknown.stdout)["error"]
