"""The enumerations dbt repeats from `slotrec/core/schema.py` must never drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml

from slotrec.core import schema
from slotrec.core.settings import REPO_ROOT

DBT_VARS = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]


def test_dbt_vars_mirror_the_python_contract():
    assert DBT_VARS["event_types"] == list(schema.EVENT_TYPES)
    assert DBT_VARS["reject_reasons"] == list(schema.REJECT_REASONS)
    assert DBT_VARS["themes"] == list(schema.THEMES)
    assert DBT_VARS["volatility_levels"] == list(schema.VOLATILITY_LEVELS)
    assert DBT_VARS["segments"] == list(schema.SEGMENTS)
    assert DBT_VARS["future_tolerance_seconds"] == schema.FUTURE_TOLERANCE_SECONDS
    assert DBT_VARS["max_lateness_days"] == schema.MAX_LATENESS_DAYS
    assert DBT_VARS["max_event_duration_seconds"] == schema.MAX_EVENT_DURATION_SECONDS
    assert DBT_VARS["session_reject_reasons"] == list(schema.SESSION_REJECT_REASONS)
    assert DBT_VARS["play_overlap_tolerance_seconds"] == schema.PLAY_OVERLAP_TOLERANCE_SECONDS
    assert DBT_VARS["day_capacity_seconds"] == schema.DAY_CAPACITY_SECONDS
    assert set(DBT_VARS["required_event_columns"]) <= set(schema.REQUIRED_EVENT_COLUMNS)


def test_every_segment_above_the_floor_has_a_threshold():
    thresholds = DBT_VARS["segment_min_stake_per_minute"]
    assert list(thresholds) == list(schema.SEGMENTS[1:])
    assert thresholds["regular"] < thresholds["high_roller"]


def test_every_feast_feature_is_a_column_of_its_dbt_mart():
    """Feature views read exported marts: each feature must exist in the mart's YAML."""
    from feature_repo import data_sources
    from feature_repo.repo import feature_repo
    from slotrec.core.settings import DataLayout

    marts = yaml.safe_load(
        (Path(REPO_ROOT) / "dbt_project" / "models" / "marts" / "_models.yml").read_text()
    )["models"]
    columns = {m["name"]: {c["name"] for c in m.get("columns", [])} for m in marts}
    renamed = {v: k for k, v in data_sources.SLOT_FIELD_MAPPING.items()}
    for view in feature_repo(DataLayout(Path("/data"))).snapshots.all():
        mart = view.batch_source.tags["dbt_model"]
        for field in view.schema:
            assert renamed.get(field.name, field.name) in columns[mart], (view.name, field.name)


def test_python_reads_only_marts_of_the_dbt_project():
    """Intermediate models are the dbt project's private detail: no SQL in the packages reads
    one (tests may, to check the dbt project itself)."""
    import re

    reads = re.compile(r"\b(?:from|join)\s+(int_\w+)", re.IGNORECASE)
    found = []
    for package in ("slotrec", "bentos", "training", "monitoring", "feature_repo", "benchmarks"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            found += [(path.name, model) for model in reads.findall(path.read_text())]
    assert found == []
