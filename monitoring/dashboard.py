"""The Evidently workspace behind `slotrec dashboard`: one project, the project's panels, one
snapshot per day.

The workspace is a folder under the data dir (`<data>/monitoring/workspace`). Every daily run
adds a snapshot holding that day's headline numbers (model quality, drift, recommendation
health, A/B, responsible play) as a one-row data set measured with Evidently's `MeanValue`,
stamped with the run day; the dashboard panels plot those values over the snapshots'
timestamps. Re-running a day replaces its snapshot, so the history holds one point per day.
"""

from __future__ import annotations

import logging
import threading
import time
import webbrowser
from collections.abc import Mapping
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

PROJECT_NAME = "slotrec"
PROJECT_DESCRIPTION = "Slot-lobby recommendations: model quality, drift, recommendations, A/B."
MEAN_VALUE = "evidently:metric_v2:MeanValue"

# tab → panel title → the daily values it plots
PANELS: dict[str, dict[str, list[str]]] = {
    "Quality": {
        "HR@10 and NDCG@10 of each day's bundle (test day, full ranking)": ["hr10", "ndcg10"],
        "Validation NDCG@10: NeuMF vs popularity": ["valid_ndcg10", "valid_ndcg10_popularity"],
    },
    "Drift": {
        "Data drift: share of drifted columns": [
            "interactions_drift_share",
            "user_features_drift_share",
        ],
        "Embedding drift vs the previous bundle": [
            "embedding_aligned_cosine",
            "embedding_neighbour_overlap",
        ],
    },
    "Recommendations": {
        "Catalogue coverage and personalisation of served lists": [
            "coverage",
            "personalisation",
        ],
        "Popularity bias (mean player share of recommended slots)": ["popularity_bias"],
        "Novelty (bits)": ["novelty"],
    },
    "A/B": {
        "A/B: relative lift of the leading variant on the primary metric": ["ab_lift"],
        "A/B: lists shown in the experiment": ["ab_exposures"],
    },
    # monitoring.responsible_play.dashboard_values
    "Responsible play": {
        "Recommendations to restricted players (must be 0)": [
            "rp_restricted_lists",
            "rp_restricted_impressions",
        ],
        "High / very-high volatility share of impressions: at-risk players vs everyone else": [
            "rp_high_volatility_share_at_risk",
            "rp_high_volatility_share_others",
        ],
        "Guardrail activations (lists to at-risk players)": [
            "rp_at_risk_lists",
            "rp_guardrail_no_exploration",
            "rp_guardrail_no_new_games",
            "rp_guardrail_volatility_excluded",
            "rp_guardrail_volatility_demoted",
        ],
    },
}
DAILY_COLUMNS = [column for tab in PANELS.values() for cols in tab.values() for column in cols]


def dashboard_model() -> Any:
    """The project's dashboard: one tab per area, one line panel per group of values."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import line_plot_panel

    panels, tabs = [], []
    for tab, groups in PANELS.items():
        tab_panels = []
        for title, columns in groups.items():
            panel = line_plot_panel(
                title=title,
                values=[
                    PanelMetric(legend=c, metric=MEAN_VALUE, metric_labels={"column": c})
                    for c in columns
                ],
                size="half",
            )
            panels.append(panel)
            tab_panels.append(panel.id)
        tabs.append(DashboardTabModel(title=tab, panels=tab_panels))
    return DashboardModel(tabs=tabs, panels=panels)


def open_project(workspace_dir: Path) -> tuple[Any, Any]:
    """The workspace and the slotrec project in it, created with its panels on first use."""
    from evidently.ui.workspace import Workspace

    workspace_dir.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(str(workspace_dir))
    found = workspace.search_project(PROJECT_NAME)
    if found:
        project = found[0]
    else:
        project = workspace.create_project(PROJECT_NAME, description=PROJECT_DESCRIPTION)
    # Rewritten every time, so a changed panel list reaches existing workspaces too.
    workspace.save_dashboard(project.id, dashboard_model())
    return workspace, project


def record_day(
    workspace_dir: Path, day: date, values: Mapping[str, float | None], name: str = "daily"
) -> int:
    """Add (or replace) the snapshot of `day` with the given daily values.

    Values that are None or not in `DAILY_COLUMNS` are left out. Returns the number recorded.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    kept = {k: float(v) for k, v in values.items() if k in DAILY_COLUMNS and v is not None}
    if not kept:
        return 0
    workspace, project = open_project(workspace_dir)
    run_name = f"{name}-{day.isoformat()}"
    for snapshot_id in workspace.list_runs(project.id):
        existing = workspace.get_run(project.id, snapshot_id)
        if existing is not None and existing.name == run_name:
            workspace.delete_run(project.id, snapshot_id)
    frame = pd.DataFrame([kept])
    snapshot = Report([MeanValue(column=c) for c in kept]).run(
        current_data=Dataset.from_pandas(
            frame, data_definition=DataDefinition(numerical_columns=list(kept))
        ),
        reference_data=None,
        timestamp=datetime.combine(day, dtime(12)),
        tags=[name],
        name=run_name,
    )
    workspace.add_run(project.id, snapshot)
    return len(kept)


def serve_dashboard(
    workspace_dir: Path, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True
) -> None:
    """Start Evidently's UI on the workspace (blocks until stopped), opening a browser tab.

    The same server `evidently ui --workspace <dir>` starts; it is run in-process so the
    project and panels exist before the first page loads.
    """
    from evidently.ui.service.app import run_local

    open_project(workspace_dir)
    url = f"http://{host}:{port}"
    if open_browser:

        def open_when_up() -> None:
            time.sleep(2.0)  # uvicorn binds within a second or two
            webbrowser.open(url)

        threading.Thread(target=open_when_up, daemon=True).start()
    log.info("Evidently UI on %s (workspace %s)", url, workspace_dir)
    run_local(host=host, port=port, workspace=str(workspace_dir))
