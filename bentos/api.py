"""The HTTP schema: one pydantic model per request and response, with examples.

BentoML turns these into the OpenAPI page and validates every body against them; a body that
breaks a rule is answered 422 with the field and the rule (see `bentos.guard`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bentos.realtime.events import Identifier, PlayEvent
from bentos.restrictions import MAX_REASON_CHARS, Kind
from slotrec.core import schema

Reason = Literal[
    "similar", "history", "recent", "onboarding", "popular", "exploration", "new_game", "fallback"
]
Theme = Literal[schema.THEMES]  # type: ignore[valid-type]
Volatility = Literal[schema.VOLATILITY_LEVELS]  # type: ignore[valid-type]
Country = Literal[schema.COUNTRIES]  # type: ignore[valid-type]

MAX_K = 100
MAX_IDS = 200  # exclude lists, events per call: bounded so one request stays cheap


def openapi_examples(node: Any) -> Any:
    """JSON schema with OpenAPI 3.0's single `example` in place of `examples` lists.

    BentoML's OpenAPI writer knows `example` only, and fails on a schema (even a nested one,
    such as `PlayEvent` inside `EventsRequest`) that carries pydantic's `examples`.
    """
    if isinstance(node, dict):
        out = {k: openapi_examples(v) for k, v in node.items() if k != "examples"}
        if isinstance(node.get("examples"), list) and node["examples"]:
            out.setdefault("example", node["examples"][0])
        return out
    if isinstance(node, list):
        return [openapi_examples(v) for v in node]
    return node


class _Schema(BaseModel):
    """Base of every HTTP model: its JSON schema is one BentoML's OpenAPI page accepts."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return openapi_examples(super().model_json_schema(*args, **kwargs))


class _Strict(_Schema):
    model_config = ConfigDict(extra="forbid")


class PlayContext(_Strict):
    """What the player is doing now: the slot just played and for how long."""

    slot_id: Identifier = Field(description="The slot the player just played.")
    minutes_played: float | None = Field(
        default=None, ge=0, le=24 * 60, description="Minutes on that slot in this session."
    )


class RecommendRequest(_Strict):
    """Ask for the next slots to show a player."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u0000042",
                    "k": 10,
                    "context": {"slot_id": "s000317", "minutes_played": 12},
                    "exclude": ["s000005"],
                }
            ]
        }
    )

    user_id: Identifier = Field(description="The player's external id (unknown: cold start).")
    k: int = Field(default=10, ge=1, le=MAX_K, description="How many slots to return.")
    context: PlayContext | None = Field(default=None, description="The slot just played.")
    exclude: list[Identifier] = Field(
        default_factory=list, max_length=MAX_IDS, description="Slots the lobby must not show."
    )


class RecommendedSlot(_Schema):
    """One ranked slot with why it is there."""

    slot_id: str
    name: str | None = None
    score: float = Field(description="Ranking score in [0, 1]; higher ranks first.")
    reason: Reason
    because: str | None = Field(
        default=None, description="The slot or segment the reason refers to, if any."
    )


class Suggestion(_Schema):
    """A next-slot suggestion made when a player crossed the play-time threshold."""

    user_id: str
    after_slot_id: str = Field(description="The slot played past the threshold.")
    seconds_played: float
    items: list[RecommendedSlot]
    request_id: str
    created_at: str


class RecommendResponse(_Schema):
    """A ranked list, the bundle that made it and the experiment arm that shaped it."""

    user_id: str
    items: list[RecommendedSlot]
    request_id: str
    model_version: str | None
    experiment: str | None
    variant: str
    fallback: bool = Field(description="True when the list comes from popular slots only.")
    fallback_reason: str | None = None
    cold_start: bool = Field(description="True when the model does not know the player yet.")
    notes: list[str] = Field(default_factory=list, description="Inputs that were ignored, and why.")
    suggestion: Suggestion | None = Field(
        default=None, description="The latest kept next-slot suggestion for this player."
    )
    restricted: bool = Field(
        default=False,
        description="True when the player is self-excluded or cooling off: `items` is empty, "
        "on purpose (responsible play), and no suggestion is shown.",
    )
    guardrails: list[str] = Field(
        default_factory=list,
        description="Responsible-play guardrails this list was made under, for a player whose "
        "risk level (daily `player_risk`) is guarded: `no_exploration`, `no_new_games`, "
        "`volatility_excluded`, `volatility_demoted` (settings `risk_*`). Empty otherwise.",
    )


class SimilarRequest(_Strict):
    """Slots like a given slot, optionally re-ranked for one player."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"slot_id": "s000317", "k": 5, "user_id": "u0000042"}]}
    )

    slot_id: Identifier
    k: int = Field(default=10, ge=1, le=MAX_K)
    user_id: Identifier | None = Field(default=None, description="Personalise for this player.")


class SimilarResponse(_Schema):
    slot_id: str
    items: list[RecommendedSlot]
    model_version: str | None
    personalised: bool
    restricted: bool = Field(
        default=False,
        description="True when `user_id` is self-excluded or cooling off: `items` is empty.",
    )
    guardrails: list[str] = Field(
        default_factory=list,
        description="Responsible-play guardrails applied for an at-risk `user_id`: "
        "`no_exploration`, `no_new_games`, `volatility_excluded` (see `RecommendResponse`).",
    )


class EventsRequest(_Strict):
    """A batch of play events from the lobby."""

    events: list[PlayEvent] = Field(min_length=1, max_length=MAX_IDS)


class RealityCheck(_Schema):
    """A take-a-break message, instead of a next-slot suggestion, for an at-risk player."""

    kind: Literal["reality_check"] = "reality_check"
    user_id: str
    message: str = Field(description="The message to show (setting `risk_reality_check_message`).")
    minutes_played: float = Field(description="Minutes on end on the slot when the check fired.")
    after_slot_id: str = Field(description="The slot played past the threshold.")
    risk_level: str = Field(description="The player's risk level (elevated, high).")


class EventsResponse(_Schema):
    accepted: int
    suggestions: list[Suggestion] = Field(
        default_factory=list, description="Fresh suggestions for players who crossed the threshold."
    )
    degraded: bool = Field(
        default=False,
        description="The online store was down: events were kept in the raw files only.",
    )
    withheld: list[str] = Field(
        default_factory=list,
        description="Players who crossed the threshold but are self-excluded or cooling off: "
        "their plays were recorded, no suggestion was made.",
    )
    reality_checks: list[RealityCheck] = Field(
        default_factory=list,
        description="At-risk players who crossed the threshold: a take-a-break message instead "
        "of a suggestion (none is made or kept).",
    )
    guardrails: list[str] = Field(
        default_factory=list,
        description="Responsible-play guardrails applied in this response (`reality_check`).",
    )


class OnboardRequest(_Strict):
    """A new player's survey answers; every question is optional."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u0100001",
                    "themes": ["fishing", "animals"],
                    "volatility": ["high"],
                    "providers": [],
                }
            ]
        }
    )

    user_id: Identifier
    themes: list[Theme] = Field(default_factory=list, max_length=len(schema.THEMES))
    volatility: list[Volatility] = Field(
        default_factory=list, max_length=len(schema.VOLATILITY_LEVELS)
    )
    providers: list[Identifier] = Field(default_factory=list, max_length=20)


class OnboardResponse(_Schema):
    user_id: str
    saved: bool
    ignored_providers: list[str] = Field(
        default_factory=list, description="Providers the catalogue does not know."
    )
    restricted: bool = Field(
        default=False,
        description="The answers were saved, but the player is self-excluded or cooling off: "
        "they get no recommendations while that lasts.",
    )


class SlotRegistration(_Strict):
    """A new or changed game and its catalogue metadata (admin)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slot_id": "s900001",
                    "name": "Deep Sea Fortune",
                    "provider": "Pragmatic",
                    "theme": "fishing",
                    "volatility": "high",
                    "rtp": 0.962,
                    "max_win_multiplier": 5000,
                    "has_bonus_buy": True,
                    "jurisdictions": ["GB", "MT", "SE"],
                }
            ]
        }
    )

    slot_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1, max_length=100)
    theme: Theme
    volatility: Volatility
    rtp: float = Field(ge=0.8, le=1.0, description="Return to player, as a fraction.")
    # ge, not gt: BentoML publishes OpenAPI 3.0, where pydantic's numeric `exclusiveMinimum`
    # is invalid (found by the schema fuzz test); a top prize below the stake is no prize anyway
    max_win_multiplier: float = Field(
        ge=1, le=1_000_000, description="Top prize as a multiple of the stake."
    )
    has_bonus_buy: bool = False
    is_active: bool = True
    jurisdictions: list[Country] = Field(min_length=1, max_length=len(schema.COUNTRIES))


class SlotRegistered(_Schema):
    slot_id: str
    status: Literal["new", "updated"]
    in_index: bool
    exploration: bool = Field(description="Whether the game is in the exploration pool.")


class ReloadResponse(_Schema):
    previous_version: str | None
    model_version: str | None
    changed: bool


class RestrictionChange(_Strict):
    """Set or lift one player's self-exclusion or cooling-off (admin).

    Takes effect on the next request, in every worker. `remove` lifts only what this endpoint
    set: a restriction from the operator's list file stays until the file says otherwise.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u0000042",
                    "action": "set",
                    "kind": "cooling_off",
                    "until_at": "2026-12-31T00:00:00Z",
                    "reason": "player asked for a 24 h break",
                }
            ]
        }
    )

    user_id: Identifier = Field(description="The player's external id.")
    action: Literal["set", "remove"] = Field(
        default="set", description="`set` adds or replaces; `remove` lifts it."
    )
    kind: Kind | None = Field(
        default=None,
        validate_default=True,
        description="self_exclusion | cooling_off (required to set).",
    )
    until_at: datetime | None = Field(
        default=None,
        validate_default=True,
        description="When it ends (UTC, ISO 8601; required for cooling_off, must lie in the "
        "future). Unset self-exclusion: until lifted.",
    )
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)

    @field_validator("kind")
    @classmethod
    def _kind_to_set(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("action") == "set":
            raise ValueError("kind is required to set a restriction")
        return value

    @field_validator("until_at")
    @classmethod
    def _until_in_the_future(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if info.data.get("action") != "set":
            return value
        if value is None:
            if info.data.get("kind") == "cooling_off":
                raise ValueError("a cooling_off needs until_at (when it ends)")
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value <= datetime.now(UTC):
            raise ValueError("lies in the past: the restriction would never be in force")
        return value


class RestrictionEntry(_Schema):
    kind: Kind
    until_at: str | None = Field(description="When it ends (UTC); null: until lifted.")
    source: Literal["file", "admin"] = Field(description="The operator's list file or this API.")
    in_force: bool
    reason: str | None = None


class RestrictionStatus(_Schema):
    """A player's restrictions after the change."""

    user_id: str
    changed: bool = Field(description="False when `remove` found nothing to lift.")
    restricted: bool = Field(description="Whether the player gets no recommendations now.")
    restrictions: list[RestrictionEntry]
