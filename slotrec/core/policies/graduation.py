"""The graduation rule of a new game (a serving policy that monitoring reports on too).

A new game starts in the exploration pool, where only players of the exploration segment see
it, in the bounded exploration share of their lists. After `new_game_exposure_cap`
exploration impressions it is reviewed once:

- plays / impressions >= `new_game_min_play_rate`: it **graduates** and competes in normal
  ranking for everyone;
- otherwise it is **retired** from exploration: no more exploration impressions, and no place
  in normal ranking either. Plays keep being counted, so a game whose plays arrive late still
  graduates once its rate passes the bar.

A play is a session start on the game. Serving (`bentos.new_games`) keeps the counts every
worker shares; the daily report shows each game's stage from the same counts.
"""

from __future__ import annotations

from typing import Literal

Stage = Literal["exploring", "graduated", "retired"]


def stage(impressions: int, plays: int, cap: int, min_play_rate: float) -> Stage:
    """Where a new game stands under the graduation rule (see the module docstring)."""
    if impressions < cap:
        return "exploring"
    return "graduated" if plays / impressions >= min_play_rate else "retired"
