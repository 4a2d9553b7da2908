"""The README documents what consumers and users rely on: it must not drift from the code."""

from pathlib import Path

from features.schema import EVENT_COLUMNS
from flows.cli import app
from publish.schema import PUBLICATION_COLUMNS, SCENARIO_COLUMNS, SCORE_COLUMNS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


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
