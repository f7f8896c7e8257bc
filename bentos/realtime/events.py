"""One play event as the lobby sends it: the HTTP schema of the `events` endpoint.

The fields are the raw event contract (`slotrec.core.schema.RAW_EVENT_SCHEMA`, DESIGN.md) so an
accepted event can be appended to the raw files unchanged and tomorrow's dbt run reads it like
any other delivery. The checks here are the dbt quarantine rules that can be decided at the
door (ids, event type, durations, amounts, timestamps), so a caller learns about a bad event
from a 422 naming the field now, instead of from a quarantine count tomorrow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from slotrec.core import schema

# Ids travel in URLs, logs and file names: printable, no spaces, bounded.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

EventType = Literal["session_start", "heartbeat", "session_end", "click", "impression"]
# The events that carry play time (dbt var play_event_types); clicks and impressions only count.
PLAY_EVENT_TYPES: frozenset[str] = frozenset({"session_start", "heartbeat", "session_end"})

_EXAMPLES: tuple[dict[str, Any], ...] = (
    {
        "event_id": "e-7f3a9c21",
        "user_id": "u0000042",
        "slot_id": "s000317",
        "session_id": "ses-91b2",
        "event_type": "heartbeat",
        "duration_seconds": 60.0,
        "bet_amount": 12.5,
        "win_amount": 0.0,
        "request_id": "req-5d1e0b",
    },
    {
        "event_id": "e-7f3a9c20",
        "user_id": "u0000042",
        "slot_id": "s000317",
        "session_id": "ses-91b2",
        "event_type": "session_start",
    },
)


def _examples_stamped_now(json_schema: dict[str, Any]) -> None:
    # Stamped when the schema is generated: a fixed date would soon be refused as too old,
    # and an OpenAPI page's "try it" should send an event the service accepts.
    now = datetime.now(UTC).replace(microsecond=0)
    stamps = (now, now - timedelta(minutes=1))  # the heartbeat, a minute after its session start
    json_schema["examples"] = [
        {**example, "occurred_at": stamp.isoformat()}
        for example, stamp in zip(_EXAMPLES, stamps, strict=True)
    ]


class PlayEvent(BaseModel):
    """One raw play event (session start, heartbeat, session end, click or impression).

    `duration_seconds` is the play time since the previous event of the same session (0 on a
    session start), as in the raw contract. A timestamp without a zone is read as UTC; `ts` is
    accepted as another name for `occurred_at`.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=_examples_stamped_now,
    )

    event_id: Identifier = Field(description="Unique id of the event (dedupe key downstream).")
    user_id: Identifier = Field(description="The player's external id.")
    slot_id: Identifier = Field(description="The slot game's external id.")
    session_id: Identifier | None = Field(
        default=None, description="The play session; required for play events."
    )
    event_type: EventType = Field(description="session_start | heartbeat | session_end | ...")
    occurred_at: datetime = Field(
        validation_alias=AliasChoices("occurred_at", "ts"),
        description="When it happened (UTC; ISO 8601). At most "
        f"{schema.FUTURE_TOLERANCE_SECONDS} s in the future and "
        f"{schema.MAX_LATENESS_DAYS} days in the past.",
    )
    duration_seconds: float = Field(
        default=0.0,
        ge=0,
        le=schema.MAX_EVENT_DURATION_SECONDS,
        allow_inf_nan=False,
        description="Seconds played since the previous event of this session.",
    )
    bet_amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    win_amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    request_id: Identifier | None = Field(
        default=None, description="The recommendation this event follows, for attribution."
    )

    @field_validator("occurred_at")
    @classmethod
    def _recent_utc(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        now = datetime.now(UTC)
        if value > now + timedelta(seconds=schema.FUTURE_TOLERANCE_SECONDS):
            raise ValueError(
                f"lies more than {schema.FUTURE_TOLERANCE_SECONDS} s in the future "
                f"(now is {now.isoformat(timespec='seconds')})"
            )
        if value < now - timedelta(days=schema.MAX_LATENESS_DAYS):
            raise ValueError(f"is more than {schema.MAX_LATENESS_DAYS} days old")
        return value

    @model_validator(mode="after")
    def _play_events_have_a_session(self) -> PlayEvent:
        if self.event_type in PLAY_EVENT_TYPES and self.session_id is None:
            raise ValueError(f"session_id is required for a {self.event_type} event")
        return self

    @property
    def is_play(self) -> bool:
        """Whether this event says the slot was played (start, heartbeat or end)."""
        return self.event_type in PLAY_EVENT_TYPES

    def raw_row(self) -> dict[str, Any]:
        """The event as one row of the raw contract (`RAW_EVENT_SCHEMA` column order); the
        columns of the service's own decisions (impressions only) are null."""
        return {column: getattr(self, column, None) for column in schema.RAW_EVENT_COLUMNS}


AMOUNT_FIELDS = ("bet_amount", "win_amount")


def refuse_absurd_amounts(events: list[PlayEvent], bound: float) -> None:
    """Refuse a batch holding a bet or win above `bound` (Settings.max_event_amount).

    The bound is a setting, so the schema cannot carry it; this raises the same pydantic
    ValidationError a schema rule would, so the caller gets the same 422 naming each field
    (`events.3.bet_amount`). Tomorrow's dbt run quarantines such a row as absurd_amount.

    Raises:
        ValidationError: one entry per amount above the bound.
    """
    errors: list[Any] = [
        {
            "type": "less_than_equal",
            "loc": ("events", i, field),
            "input": getattr(event, field),
            "ctx": {"le": bound},
        }
        for i, event in enumerate(events)
        for field in AMOUNT_FIELDS
        if (getattr(event, field) or 0.0) > bound
    ]
    if errors:
        raise ValidationError.from_exception_data("EventsRequest", errors)
