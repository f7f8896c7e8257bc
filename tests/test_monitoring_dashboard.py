"""The Evidently workspace: the project's panels, one snapshot per day, values read back."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date

import pytest

from monitoring.dashboard import DAILY_COLUMNS, PANELS, open_project, record_day


def _values(workspace, project) -> dict[str, dict[str, float]]:
    """snapshot name → column → MeanValue result."""
    out = {}
    for snapshot_id in workspace.list_runs(project.id):
        snapshot = workspace.get_run(project.id, snapshot_id)
        out[snapshot.name] = {
            # display names read "Mean value of 'hr10'"
            result.display_name.split("'")[1]: result.value
            for result in snapshot.metric_results.values()
        }
    return out


def test_the_project_has_one_tab_per_area_and_a_panel_per_group(tmp_path):
    workspace, project = open_project(tmp_path / "ws")
    model = workspace.get_dashboard(project.id)
    assert [t.title for t in model.tabs] == [
        "Quality",
        "Drift",
        "Recommendations",
        "A/B",
        "Responsible play",
    ]
    assert len(model.panels) == sum(len(groups) for groups in PANELS.values())
    plotted = {v.metric_labels["column"] for p in model.panels for v in p.values}
    assert plotted == set(DAILY_COLUMNS)
    # opening again finds the same project rather than making a second one
    again, project_again = open_project(tmp_path / "ws")
    assert project_again.id == project.id
    assert len(again.list_projects()) == 1


def test_a_rerun_day_replaces_its_snapshot(tmp_path):
    ws_dir = tmp_path / "ws"
    day1, day2 = date(2026, 1, 1), date(2026, 1, 2)
    assert record_day(ws_dir, day1, {"hr10": 0.3, "ndcg10": None, "not_a_panel": 1.0}) == 1
    record_day(ws_dir, day1, {"hr10": 0.35, "coverage": 0.5})
    record_day(ws_dir, day2, {"hr10": 0.4})
    workspace, project = open_project(ws_dir)
    values = _values(workspace, project)
    assert values == {
        "daily-2026-01-01": {"hr10": 0.35, "coverage": 0.5},
        "daily-2026-01-02": {"hr10": 0.4},
    }


@pytest.mark.slow
def test_slotrec_dashboard_serves_the_project(tmp_path):
    """`slotrec dashboard --no-browser` starts Evidently's UI on the workspace."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "slotrec", "dashboard", "--data-dir", str(tmp_path)]
    server = subprocess.Popen(
        [*command, "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240  # the UI imports a lot; slow on a busy 2-core box
        projects = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/projects", timeout=5) as response:
                    projects = json.loads(response.read())
                break
            except OSError:
                time.sleep(1)
        assert projects is not None, "the dashboard never answered"
        assert [p["name"] for p in projects] == ["slotrec"]
        with urllib.request.urlopen(f"{base}/v2/dashboards/{projects[0]['id']}") as response:
            dashboard = json.loads(response.read())
        assert [t["title"] for t in dashboard["tabs"]] == list(PANELS)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in output
