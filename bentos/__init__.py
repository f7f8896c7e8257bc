"""The serving stage: slotrec's BentoML HTTP service and the recommendation flow behind it.

`service` is the thin `@bentoml.service` that maps endpoints onto `app.SlotrecApp`, a plain
application object (serving state, lists, play, admin) that tests drive without BentoML;
`recommender/` ranks one list (candidates, filters, scores, exploration, diversity, reasons) and
`realtime/` keeps each player's live state. It reads the bundles, marts and Feast stores the
earlier stages wrote, and imports nothing from monitoring or the roof.
"""
