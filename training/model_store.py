"""The BentoML model store, pointed at slotrec's data directory.

BentoML reads `BENTOML_HOME` once, the first time its store is touched in a process. Every
slotrec entry point that saves or loads bundles calls `use_model_store(settings)` first, so the
CLI, the tests and a served process all agree on one store without relying on `~/bentoml`.
"""

from __future__ import annotations

import os
from pathlib import Path

from slotrec.core.settings import Settings

BUNDLE_MODEL_NAME = "slotrec-ncf"


def use_model_store(settings: Settings) -> Path:
    """Point BentoML at `<data_dir>/bentoml` unless `BENTOML_HOME` is already set; return it."""
    home = Path(os.environ.setdefault("BENTOML_HOME", str(settings.layout.bentoml_home)))
    return home
