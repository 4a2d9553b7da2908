"""The scenario report: self-contained, escaped, its three maps, the changes, the assumptions and the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.gazetteer import Gazetteer
from features.scenario import parse_scenario
from publish.exports import write_scenario_report
from publish.scenarios import render_scenario_report, scenario_rows, top_changes

SCENARIO = parse_scenario('id = "x"\ntitle = "Force <b>leaves</b>"\n[[change]]\naction = "leave"\nforce = "F"\n')


def rows(districts: pd.DataFrame) -> pd.DataFrame:
    n = len(districts)
    base = np.linspace(1, 4, n)
    change = np.r_[0.0, 0.5, -0.3, np.zeros(n - 3)]
    forecasts = pd.concat([pd.DataFrame({
        "district_code": districts["district_code"].astype("string").to_numpy(), "horizon_weeks": h,
        "expected_events_baseline": base, "expected_events_scenario": base + change,
        "expected_events_change": change, "change_lo90": change - 0.1, "change_hi90": change + 0.1,
        "log_mean_change_se": 0.05, "events_lo80_baseline": 0.0, "events_hi80_baseline": base * 2,
        "events_lo80_scenario": 0.0, "events_hi80_scenario": base * 2, "p_major_attack_4w_baseline": 0.1,
        "p_major_attack_4w_scenario": 0.1 + change / 10, "p_major_attack_4w_change": change / 10}) for h in (1, 4)])
    return scenario_rows(forecasts.drop(columns="log_mean_change_se"), districts, scenario=SCENARIO,
                         week_start=pd.Timestamp("2023-01-02"), country_iso3="SIM", event_source="simulated",
                         run_id="run-1", count_model="hawkes_nb_forces", hazard_model="hazard_cloglog_forces",
                         published_at=pd.Timestamp("2023-01-02 06:00", tz="UTC"))


def test_the_report_shows_three_maps_the_changes_and_escapes_the_texts(tmp_path):
    districts = Gazetteer.synthetic(9).districts
    frame = rows(districts)
    evidence = pd.DataFrame({"scope": ["district"], "group": ["pooled"], "window_weeks": [13], "irr": [1.4],
                             "ci_low": [0.9], "ci_high": [2.1], "n_withdrawals": [12]})
    html = render_scenario_report(frame, districts, SCENARIO, ["F leaves <Alpha>"], evidence=evidence,
                                  notes=["caveat"], seen={"count-h4": ["ff_x_bases"]})
    assert html.count("<svg") == 3 and "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert "Force &lt;b&gt;leaves&lt;/b&gt;" in html and "F leaves &lt;Alpha&gt;" in html
    assert "1.40" in html and "0.90–2.10" in html and "SIMULATED DATA" in html
    assert [r["change"] for r in top_changes(frame)] == ["+0.50", "-0.30"]
    path = write_scenario_report(html, tmp_path, "SIM", "x", "2023-01-02")
    assert path == tmp_path / "SIM" / "scenarios" / "SIM_x_2023-01-02.html" and path.read_text() == html
    empty = render_scenario_report(frame, districts, SCENARIO, [], evidence=None, notes=[], seen={})
    assert "No withdrawal of the registry falls inside the data" in empty


def test_the_scenario_report_renders_in_headless_chromium(tmp_path):
    import shutil
    import subprocess
    from pathlib import Path

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if binary is None:
        pytest.skip("no Chromium binary")
    from PIL import Image

    districts = Gazetteer.synthetic(9).districts
    html = render_scenario_report(rows(districts), districts, SCENARIO, ["F leaves Alpha"], evidence=None, notes=[],
                                  seen={"count-h4": ["ff_x_bases"]})
    page = write_scenario_report(html, tmp_path, "SIM", "x", "2023-01-02")
    png = tmp_path / "scenario.png"
    subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                    "--window-size=1280,1600", page.as_uri()], capture_output=True, timeout=120, check=False)
    assert png.exists() and png.stat().st_size > 20_000
    with Image.open(png) as image:
        painted = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1_000_000)}
    assert (0xB2, 0x18, 0x2B) in painted or (0xF4, 0xA5, 0x82) in painted  # the change map's "more" fills
