"""Where an Evidently snapshot goes: HTML for people and JSON for machines, named by its day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slotrec.core.atomic import write_text_atomic


def save_snapshot(snapshot: Any, folder: Path, name: str) -> dict[str, str]:
    """Write `<folder>/<name>.html` and `<name>.json` atomically; returns both paths."""
    html, payload = folder / f"{name}.html", folder / f"{name}.json"
    write_text_atomic(html, snapshot.get_html_str(as_iframe=False))
    write_text_atomic(payload, snapshot.json())
    return {"html": str(html), "json": str(payload)}
