"""What the service knows about slots and players besides the model: read from the warehouse.

The bundle holds the model, the index and the id maps; the marts hold what changes between
retrains and what the rules need: each slot's theme, provider, activity and jurisdictions,
each player's country and segment, and the slots each player already played (the interactions
mart). All of it is loaded once per bundle (at start and on reload) into flat arrays, so a
request only does dictionary and array look-ups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SlotInfo:
    """The catalogue facts the rules and the diversifier read."""

    slot_id: str
    name: str
    provider: str
    theme: str
    volatility: str
    is_active: bool
    jurisdictions: frozenset[str]


@dataclass(frozen=True)
class PlayerInfo:
    country: str | None
    segment: str | None


@dataclass
class Catalog:
    """Slots, players, play history and popularity, as of the last warehouse build."""

    slots: dict[str, SlotInfo]
    players: dict[str, PlayerInfo]
    history_users: dict[str, int]  # user_id → row of the history offsets
    history_offsets: np.ndarray  # [n_users + 1] CSR offsets into history_slots
    history_slots: np.ndarray  # [n_pairs] object array of slot_id
    popular: list[str]  # active slots, most played first
    popular_by_segment: dict[str, list[str]] = field(default_factory=dict)
    # country → (slots version, servable slot ids); see `servable`
    _servable: dict[str | None, tuple[int, frozenset[str]]] = field(
        default_factory=dict, repr=False
    )
    _slots_version: int = 0

    def replace_slots(self, slots: dict[str, SlotInfo]) -> None:
        """Swap in a new slot table (one assignment; readers see the old or the new one)."""
        self.slots = slots
        self._slots_version += 1

    def servable(self, country: str | None) -> frozenset[str]:
        """Active slots licensed in `country`, computed once per country and slot table."""
        version = self._slots_version
        cached = self._servable.get(country)
        if cached is None or cached[0] != version:
            cached = (version, servable_slots(self.slots, country))
            self._servable[country] = cached
        return cached[1]

    def played(self, user_id: str) -> list[str]:
        """Slots the player played in the interactions window (empty for an unknown player)."""
        row = self.history_users.get(user_id)
        if row is None:
            return []
        return list(self.history_slots[self.history_offsets[row] : self.history_offsets[row + 1]])

    def popular_for(self, segment: str | None) -> list[str]:
        """The segment's popular list, or the global one for an unknown segment."""
        if segment and segment in self.popular_by_segment:
            return self.popular_by_segment[segment]
        return self.popular

    @classmethod
    def empty(cls) -> Catalog:
        return cls({}, {}, {}, np.zeros(1, dtype=np.int64), np.empty(0, dtype=object), [])


def _split(value: object) -> frozenset[str]:
    if not isinstance(value, str):
        return frozenset()
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def slot_infos(frame: pd.DataFrame) -> dict[str, SlotInfo]:
    """SlotInfo per row of a catalogue frame (the `slots` mart or the raw catalogue)."""
    return {
        str(row.slot_id): SlotInfo(
            slot_id=str(row.slot_id),
            name=str(row.name),
            provider=str(row.provider),
            theme=str(row.theme),
            volatility=str(row.volatility),
            is_active=bool(row.is_active),
            jurisdictions=_split(row.jurisdictions),
        )
        for row in frame.itertuples(index=False)
    }


def load_catalog(warehouse: Path, popular_top: int = 200) -> Catalog:
    """Read slots, players, play history and popularity from the warehouse marts."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        slots = con.execute(
            "select slot_id, name, provider, theme, volatility, is_active, jurisdictions from slots"
        ).df()
        players = con.execute("select user_id, country, segment from users").df()
        pairs = con.execute(
            "select user_id, slot_id from interactions order by user_id, last_played_at desc"
        ).df()
        popularity = con.execute(
            """
            select i.slot_id, u.segment, count(*) as players, sum(i.play_seconds) as seconds
            from interactions as i
            join users as u using (user_id)
            join slots as s using (slot_id)
            where s.is_active
            group by all
            """
        ).df()
    user_ids = pairs["user_id"].to_numpy()
    starts: np.ndarray = (
        np.flatnonzero(np.r_[True, user_ids[1:] != user_ids[:-1]])
        if len(pairs)
        else np.zeros(0, dtype=np.int64)
    )
    offsets = np.r_[starts, len(pairs)].astype(np.int64)
    return Catalog(
        slots=slot_infos(slots),
        players={
            str(u): PlayerInfo(c if isinstance(c, str) else None, s if isinstance(s, str) else None)
            for u, c, s in zip(
                players["user_id"], players["country"], players["segment"], strict=True
            )
        },
        history_users={str(user_ids[s]): row for row, s in enumerate(starts)},
        history_offsets=offsets,
        history_slots=pairs["slot_id"].to_numpy(dtype=object),
        popular=_ranked(popularity, popular_top),
        popular_by_segment={
            str(seg): _ranked(rows, popular_top) for seg, rows in popularity.groupby("segment")
        },
    )


def _ranked(rows: pd.DataFrame, top: int) -> list[str]:
    totals = rows.groupby("slot_id")[["players", "seconds"]].sum()
    totals = totals.sort_values(["players", "seconds"], ascending=False, kind="stable")
    return [str(s) for s in totals.index[:top]]


def servable_slots(slots: Mapping[str, SlotInfo], country: str | None) -> frozenset[str]:
    """Active slots licensed in `country`; None (unknown country) skips the licence rule.

    A slot without recorded jurisdictions is treated as licensed everywhere.
    """
    return frozenset(
        slot_id
        for slot_id, info in slots.items()
        if info.is_active
        and (country is None or not info.jurisdictions or country in info.jurisdictions)
    )
