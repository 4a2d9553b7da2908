"""The schedule `vigie serve` uses and the one prefect.yaml declares are the same: Monday 06:00, explicit UTC."""

from pathlib import Path

import yaml

from flows.settings import Settings
from flows.weekly import weekly_deployment

ROOT = Path(__file__).resolve().parents[2]


def test_served_deployment_schedule(prefect_harness):
    deployment = weekly_deployment(Settings())
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 6 * * 1" and schedule.schedule.timezone == "UTC"
    assert deployment.concurrency_limit == 1


def test_prefect_yaml_declares_the_same_deployment():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    module, _, func = deployment["entrypoint"].partition(":")
    assert (ROOT / module).exists() and func == "weekly_flow"
    settings = Settings()
    assert deployment["schedules"][0]["cron"] == settings.schedule.cron
    assert deployment["schedules"][0]["timezone"] == settings.schedule.timezone
