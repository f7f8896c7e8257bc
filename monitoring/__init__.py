"""The monitoring stage: what a daily run and the served lists look like, for people and alerts.

One module per report (data drift, model quality and its alert, embedding and recommendation
drift, A/B readouts, responsible-play evidence, service health), the daily HTML report and the
Evidently workspace. It reads the marts, the bundles' metrics and what the service logged (the
impression rows), never re-running serving's rules, and imports no later layer.
"""
