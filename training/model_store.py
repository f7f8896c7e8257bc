"""The BentoML model store of a data directory: `<data_dir>/bentoml/models`.

BentoML's own functions find their store through `BENTOML_HOME`, read once per process, the
first time a store is touched: a process that works on two data directories (a test suite, a
benchmark beside an operator's data) would write the second one's bundles into the first's
store. slotrec never relies on it: every save and load names its store (`model_store`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from slotrec.core.settings import Settings

BUNDLE_MODEL_NAME = "slotrec-ncf"


def model_store(settings: Settings) -> Any:
    """The model store under the settings' data directory (created on first use)."""
    return _store_at(settings.layout.bentoml_home / "models")


@cache
def _store_at(path: Path) -> Any:
    from bentoml._internal.models import ModelStore

    path.mkdir(parents=True, exist_ok=True)
    return ModelStore(str(path))
