"""The at-risk rule thresholds: one set of defaults, in the settings and in dbt."""

from __future__ import annotations

import re
from datetime import date

from slotrec.core.settings import REPO_ROOT, Settings
from slotrec.transform import RISK_RULE_SETTINGS, dbt_run_env

MACRO = REPO_ROOT / "dbt_project" / "macros" / "risk_rules.sql"


def _macro_defaults() -> dict[str, float]:
    pairs = re.findall(r"'(risk_\w+)': ([0-9.]+)", MACRO.read_text())
    return {name: float(value) for name, value in pairs}


def test_dbt_defaults_mirror_the_settings() -> None:
    defaults = _macro_defaults()
    settings = Settings()
    assert set(defaults) == set(RISK_RULE_SETTINGS)
    assert {name: float(getattr(settings, name)) for name in RISK_RULE_SETTINGS} == defaults


def test_changed_thresholds_reach_dbt_through_the_environment() -> None:
    settings = Settings(risk_long_session_seconds=5400, risk_chase_min_share=0.55)
    env = dbt_run_env(settings, date(2026, 1, 7), None)
    assert env["SLOTREC_RISK_LONG_SESSION_SECONDS"] == "5400"
    assert env["SLOTREC_RISK_CHASE_MIN_SHARE"] == "0.55"
    assert env["SLOTREC_RISK_HIGH_MIN_SIGNALS"] == "2"
