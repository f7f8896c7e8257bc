"""The recommendation flow for one request, step by step (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bentos.api import RecommendedSlot
from bentos.catalog import Catalog
from bentos.realtime.state import UserLiveState
from bentos.recommender import reasons
from bentos.recommender.candidates import gather_candidates
from bentos.recommender.diversity import diversify
from bentos.recommender.exploration import exploration_slots, interleave, pick_exploration
from bentos.recommender.filters import allowed_slots
from bentos.recommender.reasons import Origin
from bentos.recommender.scoring import (
    RECENT_SATURATION_SECONDS,
    blend,
    folded_vector,
    recent_share,
    score_slots,
    taste,
)
from bentos.snapshot import Snapshot
from slotrec.core.policies.experiments import Strategy
from slotrec.core.policies.guardrails import RiskPolicy

# Neighbours of this many most recent slots join the candidates (beyond that, the folded-in
# vector carries the recent taste).
RECENT_SEEDS = 3


@dataclass(frozen=True)
class NewGamePools:
    """Registered games by graduation stage (see `bentos.new_games`)."""

    exploring: frozenset[str] = frozenset()
    graduated: frozenset[str] = frozenset()
    retired: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RankRequest:
    user_id: str
    k: int
    strategy: Strategy
    context_slot: str | None = None
    exclude: frozenset[str] = frozenset()
    live: UserLiveState | None = None
    explore: bool = False
    seed: int = 0
    # the responsible-play guardrails of an at-risk player (None: not at risk)
    risk: RiskPolicy | None = None


@dataclass
class Ranking:
    items: list[RecommendedSlot]
    cold_start: bool
    notes: list[str] = field(default_factory=list)
    explored_new_games: list[str] = field(default_factory=list)
    guardrails: list[str] = field(default_factory=list)


def _query(
    snapshot: Snapshot, request: RankRequest, folded: np.ndarray | None, recent_seconds: float
) -> tuple[np.ndarray | None, str]:
    """The player's query vector and the reason its candidates carry."""
    learned = snapshot.user_vector(request.user_id)
    if learned is not None:
        share = recent_share(request.strategy.recent_weight, recent_seconds)
        return blend(learned, folded, share), reasons.HISTORY
    answers = request.live.onboarding if request.live else None
    if answers and snapshot.embedder is not None:
        preferred = snapshot.embedder.embed_preferences(
            answers.get("themes"), answers.get("volatility"), answers.get("providers")
        )
        preferred = preferred / max(float(np.linalg.norm(preferred)), 1e-12)
        # For a new player today's plays overtake the survey as they add up.
        share = min(1.0, recent_seconds / RECENT_SATURATION_SECONDS)
        reason = reasons.RECENT if share >= 0.5 else reasons.ONBOARDING
        return blend(preferred, folded, share), reason
    return folded, reasons.RECENT


@dataclass
class _Pool:
    """A request's candidates after the rules, with what scoring them needs."""

    origins: dict[str, Origin]  # every candidate and what proposed it
    ids: list[str]  # the candidates that passed the rules, in proposal order
    query: np.ndarray | None
    folded: np.ndarray | None
    recent_seconds: float
    popular: list[str]
    servable: frozenset[str]
    blocked: set[str] | frozenset[str]
    notes: list[str]


def _pool(snapshot: Snapshot, pools: NewGamePools, request: RankRequest) -> _Pool:
    """Candidates (FAISS neighbours, the player's vector, popular) through the filters."""
    catalog = snapshot.catalog
    live_index = snapshot.live
    player = catalog.players.get(request.user_id)
    live = request.live
    played = set(catalog.played(request.user_id)) | set(live.played_slots if live else ())
    notes: list[str] = []
    context = request.context_slot
    if context is not None and context not in live_index.rows:
        notes.append(f"context.slot_id {context!r} is not a known slot: ignored")
        context = None
    recent = dict(live.recent_play_seconds) if live else {}
    folded, recent_seconds = folded_vector(live_index, recent)
    query, query_reason = _query(snapshot, request, folded, recent_seconds)
    popular = catalog.popular_for(player.segment if player else None) or snapshot.popularity.get(
        "global", []
    )
    # the context slot is usually the most recent one too: search each slot once
    seeds = list(
        dict.fromkeys(
            ([context] if context else [])
            + (list(live.played_slots[:RECENT_SEEDS]) if live else [])
        )
    )
    origins = gather_candidates(live_index, seeds, query, query_reason, popular, request.k)
    hidden = pools.exploring | pools.retired
    blocked = played | request.exclude
    if request.risk is not None:
        # no new game at all (graduated ones too), no slot of an excluded volatility
        hidden = hidden | pools.graduated
        blocked = blocked | request.risk.excluded(catalog.slots, origins)
    servable = catalog.servable(player.country if player else None)
    ids = allowed_slots((s for s in origins if s not in hidden), servable, blocked)
    return _Pool(origins, ids, query, folded, recent_seconds, popular, servable, blocked, notes)


def _scored(
    snapshot: Snapshot, request: RankRequest, pool: _Pool
) -> tuple[list[str], dict[str, float]]:
    """The pool's candidates best first, and each one's score."""
    scores = score_slots(
        snapshot,
        request.user_id,
        pool.ids,
        taste_vector=pool.query,
        folded=pool.folded,
        recent_seconds=pool.recent_seconds,
        recent_weight=request.strategy.recent_weight,
        popular=pool.popular,
    )
    order = np.argsort(-scores, kind="stable").tolist()
    ranked = [pool.ids[i] for i in order]
    score_of = dict(zip(pool.ids, scores.tolist(), strict=True))
    if request.risk is not None:
        ranked = request.risk.demote(snapshot.catalog.slots, ranked)
    return ranked, score_of


def recommend(snapshot: Snapshot, pools: NewGamePools, request: RankRequest) -> Ranking:
    """Rank k slots for one player (see the package docstring for the steps)."""
    catalog = snapshot.catalog
    pool = _pool(snapshot, pools, request)
    ranked, score_of = _scored(snapshot, request, pool)

    budget = exploration_slots(request.k, request.strategy.exploration_share)
    explore = request.explore and request.risk is None
    new_games: list[str] = []
    if explore and budget:
        new_games = allowed_slots(sorted(pools.exploring), pool.servable, pool.blocked)
        fit = taste(snapshot.live, pool.query, new_games)
        new_games = [new_games[i] for i in np.argsort(-fit, kind="stable")]
        score_of.update({s: float(f) for s, f in zip(new_games, np.sort(fit)[::-1], strict=True)})
    picked_new, extra = pick_exploration(
        new_games, ranked, request.k, budget if explore else 0, request.seed
    )
    extra_set = set(extra)
    exploit = diversify(
        [s for s in ranked if s not in extra_set],
        catalog.slots,
        request.k - len(picked_new) - len(extra),
        request.strategy.diversity_max_share,
    )

    def origin(slot_id: str) -> Origin:
        if slot_id in picked_new:
            return Origin(reasons.NEW_GAME, "exploration")
        if slot_id in extra_set:
            return Origin(reasons.EXPLORATION)
        if slot_id in pools.graduated:
            return Origin(reasons.NEW_GAME, "graduated")
        return pool.origins[slot_id]

    final = interleave(exploit, picked_new + extra, request.k)
    return Ranking(
        items=[_item(catalog, s, score_of.get(s, 0.0), origin(s)) for s in final],
        cold_start=request.user_id not in snapshot.user_rows,
        notes=pool.notes,
        explored_new_games=picked_new,
        guardrails=request.risk.list_guardrails if request.risk is not None else [],
    )


def _item(catalog: Catalog, slot_id: str, score: float, origin: Origin) -> RecommendedSlot:
    """One list item with its reason.

    model_construct: every field is built here from validated data; validating ten items per
    request again would cost more than scoring them.
    """
    info = catalog.slots.get(slot_id)
    return RecommendedSlot.model_construct(
        slot_id=slot_id,
        name=info.name if info else None,
        score=round(score, 6),
        reason=origin.reason,
        because=origin.because,
    )


def similar(
    snapshot: Snapshot,
    slot_id: str,
    k: int,
    user_id: str | None = None,
    live: UserLiveState | None = None,
    hidden: frozenset[str] = frozenset(),
) -> list[RecommendedSlot]:
    """Slots like `slot_id` (FAISS neighbours), re-ranked for a player when one is given.

    Raises:
        KeyError: the slot is not in the index.
    """
    vector = snapshot.live.vector(slot_id)
    if vector is None:
        raise KeyError(slot_id)
    sims, ids = snapshot.live.index.search(vector[None], k + 50)  # [1, k + 50]
    blocked = {slot_id} | set(hidden)
    country = None
    if user_id is not None:
        blocked |= set(snapshot.catalog.played(user_id)) | set(live.played_slots if live else ())
        player = snapshot.catalog.players.get(user_id)
        country = player.country if player else None
    similarity = {s: (1.0 + float(v)) / 2.0 for s, v in zip(ids[0], sims[0], strict=False)}
    kept = [s for s in ids[0] if s not in blocked]
    if snapshot.catalog.slots:
        kept = allowed_slots(kept, snapshot.catalog.servable(country), blocked)
    scores = np.array([similarity[s] for s in kept])
    if user_id is not None and kept:
        model = snapshot.model_scores(user_id, kept)
        scores = np.where(np.isnan(model), scores, 0.5 * scores + 0.5 * model)
    order = np.argsort(-scores, kind="stable")[:k]
    return [
        RecommendedSlot(
            slot_id=kept[i],
            name=(info.name if (info := snapshot.catalog.slots.get(kept[i])) else None),
            score=round(float(scores[i]), 6),
            reason="similar",
            because=slot_id,
        )
        for i in order
    ]
