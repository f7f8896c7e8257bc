"""Test-wide isolation: nothing a test writes may reach the developer's own stores."""

from __future__ import annotations

import os
import tempfile

# BentoML fixes its home (config, scratch files, default model store) the first time it is touched;
# slotrec names its model store per data directory, but nothing of a test may reach ~/bentoml.
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="slotrec-test-bentoml-")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
