"""Diversity: no theme and no provider may fill more than a set share of one list."""

from __future__ import annotations

import math
from collections import Counter

from bentos.catalog import SlotInfo


def diversify(ranked: list[str], slots: dict[str, SlotInfo], k: int, max_share: float) -> list[str]:
    """The first k slots of `ranked` under a cap per theme and per provider.

    Greedy in score order: a slot that would push its theme or provider past
    `ceil(k * max_share)` waits; if too few slots pass, the waiting ones fill the list in score
    order, so a small catalogue still yields k items.
    """
    cap = max(1, math.ceil(k * max_share))
    themes: Counter[str] = Counter()
    providers: Counter[str] = Counter()
    chosen: list[str] = []
    waiting: list[str] = []
    for slot_id in ranked:
        if len(chosen) == k:
            break
        info = slots.get(slot_id)
        theme = info.theme if info else ""
        provider = info.provider if info else ""
        if themes[theme] >= cap or providers[provider] >= cap:
            waiting.append(slot_id)
            continue
        themes[theme] += 1
        providers[provider] += 1
        chosen.append(slot_id)
    return chosen + waiting[: k - len(chosen)]
