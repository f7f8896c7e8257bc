"""The repo's definitions as module-level objects, for the `feast` CLI alone.

`feast apply` / `feast plan` run from this folder import every module and register the objects
they find. slotrec itself builds its definitions for a data directory (`repo.feature_repo`) and
never imports this module; here the data directory comes from `SLOTREC_DATA_DIR` (print the
variables with `slotrec features --as-of DATE --print-env`), the one place a setting is read at
import, because that is how the `feast` CLI finds definitions.
"""

import os
from pathlib import Path

from feature_repo.repo import feature_repo
from slotrec.core.settings import DataLayout

_repo = feature_repo(DataLayout(Path(os.environ.get("SLOTREC_DATA_DIR", "../data")).resolve()))

user_activity = _repo.snapshots.user_activity
user_taste = _repo.snapshots.user_taste
slot_popularity = _repo.snapshots.slot_popularity
player_risk = _repo.snapshots.player_risk
user_live_play_push = _repo.live.play_push
user_live_profile_push = _repo.live.profile_push
user_live_play = _repo.live.play
user_live_profile = _repo.live.profile
ranking_v1 = _repo.services.ranking
user_profile_v1 = _repo.services.user_profile
slot_profile_v1 = _repo.services.slot_profile
risk_profile_v1 = _repo.services.risk_profile
evaluation_groups_v1 = _repo.services.evaluation_groups
live_state_v1 = _repo.services.live_state
