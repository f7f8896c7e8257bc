"""Why a slot is in a list: the reason codes every recommended item carries.

The first source that proposes a candidate names its reason (neighbours of the slot just played
come before the player's own vector, which comes before popularity), so a lobby can say
"because you played X" where that is true and "popular with players like you" where it is not.
"""

from __future__ import annotations

from typing import NamedTuple

SIMILAR = "similar"  # a FAISS neighbour of the context slot or a recently played slot
HISTORY = "history"  # retrieved by the player's learned vector
RECENT = "recent"  # retrieved by the vector folded in from today's plays (new player)
ONBOARDING = "onboarding"  # retrieved by the vector of the player's survey answers
POPULAR = "popular"  # popular in the player's segment
EXPLORATION = "exploration"  # a bounded exploration pick
NEW_GAME = "new_game"  # a newly registered game (exploration, or graduated)
FALLBACK = "fallback"  # the model, index or online store failed: popular slots


class Origin(NamedTuple):
    """Where a candidate came from: the reason code and what it refers to.

    A named tuple, not a dataclass: a request creates a few hundred of them.
    """

    reason: str
    because: str | None = None
