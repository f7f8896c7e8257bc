"""slotrec: recommendations for online-casino slot lobbies.

Three layers live in this package. `slotrec.core` is the ground floor: the contracts every
stage shares (schema, settings and data layout, atomic writes, run history, the clock, the
serving policies). `slotrec.simulator` is a test fixture, a casino world that writes raw files
like an operator's export; the pipeline never imports it. The modules here are the roof: the
command line (`cli`), the daily orchestration (`daily`, `ingest`, `transform`), the closed-loop
demo and the helpers that start services; they import every stage, and nothing imports them.
"""

__version__ = "0.1.0"
