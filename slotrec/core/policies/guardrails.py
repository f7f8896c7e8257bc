"""Responsible-play guardrails for players whose play shows risk signals (a serving policy).

On the ground floor because two stages read the same rules: serving applies them, monitoring
reports what they did.

The daily `player_risk` mart gives each player a `risk_level` (none, elevated, high; served
from the Feast online store with the player's live state). For a level in
`settings.risk_guarded_levels` the ranker applies, and the response names:

- `no_exploration`: no exploration items, whatever the player's exploration segment;
- `no_new_games`: no new game, exploring or graduated (new games are pushed to everyone else);
- `volatility_excluded`: slots of the level's `risk_excluded_volatility` are left out;
- `volatility_demoted`: slots of the level's `risk_demoted_volatility` rank after every other
  candidate;
- `reality_check` (the `events` endpoint): crossing the play-time threshold brings a take-a-break
  message instead of a next-slot suggestion, and no suggestion is kept or shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from slotrec.core.settings import Settings


class SlotInfo(Protocol):
    """What the guardrails read of a slot (the serving catalogue's `SlotInfo` has it)."""

    @property
    def volatility(self) -> str | None: ...


NO_EXPLORATION = "no_exploration"
NO_NEW_GAMES = "no_new_games"
VOLATILITY_EXCLUDED = "volatility_excluded"
VOLATILITY_DEMOTED = "volatility_demoted"
REALITY_CHECK = "reality_check"


@dataclass(frozen=True)
class RiskPolicy:
    """What the guardrails do for one player at one risk level."""

    level: str
    excluded_volatility: frozenset[str]
    demoted_volatility: frozenset[str]

    @property
    def list_guardrails(self) -> list[str]:
        """The guardrails a list for this player is made under, in a fixed order."""
        out = [NO_EXPLORATION, NO_NEW_GAMES]
        if self.excluded_volatility:
            out.append(VOLATILITY_EXCLUDED)
        if self.demoted_volatility:
            out.append(VOLATILITY_DEMOTED)
        return out

    @property
    def filter_guardrails(self) -> list[str]:
        """The guardrails of a list made without re-ranking (fallback, similar): no demotion."""
        return [g for g in self.list_guardrails if g != VOLATILITY_DEMOTED]

    def excluded(self, slots: Mapping[str, SlotInfo], slot_ids: Iterable[str]) -> set[str]:
        """The slots among `slot_ids` whose volatility this policy leaves out."""
        if not self.excluded_volatility:
            return set()
        return {
            s
            for s in slot_ids
            if (info := slots.get(s)) is not None and info.volatility in self.excluded_volatility
        }

    def demote(self, slots: Mapping[str, SlotInfo], ranked: list[str]) -> list[str]:
        """`ranked` with the demoted volatilities moved behind the rest (each part keeps order)."""
        if not self.demoted_volatility:
            return ranked

        def demoted(s: str) -> bool:
            info = slots.get(s)
            return info is not None and info.volatility in self.demoted_volatility

        return [s for s in ranked if not demoted(s)] + [s for s in ranked if demoted(s)]


def risk_policy(level: str | None, settings: Settings) -> RiskPolicy | None:
    """The guardrails for a risk level, or None when the level is not guarded (or unknown)."""
    if not level or level not in settings.risk_guarded_levels:
        return None
    return RiskPolicy(
        level=level,
        excluded_volatility=frozenset(settings.risk_excluded_volatility.get(level, [])),
        demoted_volatility=frozenset(settings.risk_demoted_volatility.get(level, [])),
    )


def reality_check_message(settings: Settings, seconds_played: float) -> str:
    """The take-a-break message for a player who has played `seconds_played` on end."""
    return settings.risk_reality_check_message.replace("{minutes}", str(int(seconds_played // 60)))
