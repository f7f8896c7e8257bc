"""The data contracts and column names shared by the simulator, dbt, Feast, training and serving.

DESIGN.md asks for one module that holds the names every stage agrees on. dbt cannot import
Python, so the dbt project repeats the enumerations below in `dbt_project/dbt_project.yml` (vars)
and in its `accepted_values` tests; `tests/test_contracts.py` checks the two never drift apart.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

# --- identifiers ---------------------------------------------------------------------------
USER_ID: Final = "user_id"
SLOT_ID: Final = "slot_id"
USER_IDX: Final = "user_idx"
SLOT_IDX: Final = "slot_idx"
EVENT_ID: Final = "event_id"
SESSION_ID: Final = "session_id"
REQUEST_ID: Final = "request_id"

# --- raw play events (one folder per UTC delivery day) ------------------------------------
EVENT_TYPE: Final = "event_type"
OCCURRED_AT: Final = "occurred_at"
DURATION_SECONDS: Final = "duration_seconds"
BET_AMOUNT: Final = "bet_amount"
WIN_AMOUNT: Final = "win_amount"

EVENT_TYPES: Final = ("session_start", "heartbeat", "session_end", "click", "impression")

# What the service decided for a list, on each impression row it writes (null on every other
# row, and on an operator's own export): the experiment and arm the player was in, the tile's
# 1-based place in the list, and the responsible-play guardrails the list was made under
# (comma-separated). Monitoring reads them instead of guessing them again from the rules.
EXPERIMENT: Final = "experiment"
VARIANT: Final = "variant"
LIST_POSITION: Final = "list_position"
GUARDRAILS: Final = "guardrails"

RAW_EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field(EVENT_ID, pa.string()),
        pa.field(USER_ID, pa.string()),
        pa.field(SLOT_ID, pa.string()),
        pa.field(SESSION_ID, pa.string()),
        pa.field(EVENT_TYPE, pa.string()),
        pa.field(OCCURRED_AT, pa.timestamp("us", tz="UTC")),
        pa.field(DURATION_SECONDS, pa.float64()),
        pa.field(BET_AMOUNT, pa.float64()),
        pa.field(WIN_AMOUNT, pa.float64()),
        pa.field(REQUEST_ID, pa.string()),
        pa.field(EXPERIMENT, pa.string()),
        pa.field(VARIANT, pa.string()),
        pa.field(LIST_POSITION, pa.int64()),
        pa.field(GUARDRAILS, pa.string()),
    ]
)
RAW_EVENT_COLUMNS: Final = tuple(RAW_EVENT_SCHEMA.names)
# Columns a raw file may lack (read as null): the recommendation a row follows, and what the
# service decided for it.
OPTIONAL_EVENT_COLUMNS: Final = (REQUEST_ID, EXPERIMENT, VARIANT, LIST_POSITION, GUARDRAILS)
# A raw file missing any of these cannot be staged at all.
REQUIRED_EVENT_COLUMNS: Final = tuple(
    c for c in RAW_EVENT_COLUMNS if c not in OPTIONAL_EVENT_COLUMNS
)

# --- slot catalogue -------------------------------------------------------------------------
VOLATILITY_LEVELS: Final = ("low", "medium", "high", "very_high")
THEMES: Final = (
    "adventure",
    "animals",
    "asian",
    "classic_fruit",
    "egypt",
    "fishing",
    "gems",
    "horror",
    "irish",
    "mythology",
    "space",
    "western",
)
COUNTRIES: Final = ("GB", "MT", "SE", "DE", "CA", "NL", "ES", "IT")

SLOT_CATALOGUE_SCHEMA: Final = pa.schema(
    [
        pa.field(SLOT_ID, pa.string()),
        pa.field("name", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("theme", pa.string()),
        pa.field("volatility", pa.string()),
        pa.field("rtp", pa.float64()),
        pa.field("max_win_multiplier", pa.float64()),
        pa.field("has_bonus_buy", pa.bool_()),
        pa.field("released_at", pa.timestamp("us", tz="UTC")),
        pa.field("is_active", pa.bool_()),
        # Comma-separated ISO country codes: a plain string stays portable across dbt adapters.
        pa.field("jurisdictions", pa.string()),
    ]
)

# --- player registry (who exists, where they play from) ------------------------------------
PLAYER_SCHEMA: Final = pa.schema(
    [
        pa.field(USER_ID, pa.string()),
        pa.field("registered_at", pa.timestamp("us", tz="UTC")),
        pa.field("country", pa.string()),
    ]
)

# --- onboarding answers (all preferences optional, comma-separated) ------------------------
ONBOARDING_SCHEMA: Final = pa.schema(
    [
        pa.field(USER_ID, pa.string()),
        pa.field("answered_at", pa.timestamp("us", tz="UTC")),
        pa.field("preferred_themes", pa.string()),
        pa.field("preferred_volatility", pa.string()),
        pa.field("preferred_providers", pa.string()),
    ]
)

# --- quarantine --------------------------------------------------------------------------
# Each rejected raw row carries exactly one reason: the first rule it breaks, in this order.
REJECT_REASONS: Final = (
    "null_required_field",
    "unknown_event_type",
    "duplicate_event",
    "future_timestamp",
    "too_late",
    "negative_duration",
    "absurd_duration",
    "negative_amount",
    "absurd_amount",
    "unknown_user",
    "unknown_slot",
    # Rules on play as a whole, judged after every row rule (dbt's int_events_checked):
    "overlapping_play",  # a play event claims seconds its session already reported
    "overlapping_session",  # a session on a slot starts while the player's earlier one runs
    "over_day_capacity",  # play past what one day holds, for one player
)
# The reasons above that judge play as a whole rather than one row.
SESSION_REJECT_REASONS: Final = ("overlapping_play", "overlapping_session", "over_day_capacity")
# Tolerance of those rules: stretches of play overlapping by at most this much are clock jitter.
PLAY_OVERLAP_TOLERANCE_SECONDS: Final = 5
# The most play one player's day can hold.
DAY_CAPACITY_SECONDS: Final = 86_400
# An event whose occurred_at lies more than this after the end of its delivery day is "future".
FUTURE_TOLERANCE_SECONDS: Final = 600
# An event delivered more than this many days after it happened is "too_late" to attribute.
MAX_LATENESS_DAYS: Final = 7
# A single event longer than this (a heartbeat or a session end) is "absurd".
MAX_EVENT_DURATION_SECONDS: Final = 4 * 3600

# --- interactions mart ---------------------------------------------------------------------
PLAY_SECONDS: Final = "play_seconds"
SESSION_COUNT: Final = "session_count"
ACTIVE_DAYS: Final = "active_days"
LAST_PLAYED_AT: Final = "last_played_at"
DAYS_SINCE_LAST_PLAY: Final = "days_since_last_play"
NORMALIZED_SCORE: Final = "normalized_score"
FEATURE_TIMESTAMP: Final = "feature_timestamp"
AS_OF: Final = "as_of"

SEGMENTS: Final = ("casual", "regular", "high_roller")
