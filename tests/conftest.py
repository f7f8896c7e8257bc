"""Test-wide isolation: nothing a test writes may reach the developer's own stores."""

from __future__ import annotations

import os
import tempfile

# BentoML fixes its model-store location the first time the store is touched in a process, so
# this must happen before any test imports bentoml; one temporary store serves the session.
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="slotrec-test-bentoml-")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
