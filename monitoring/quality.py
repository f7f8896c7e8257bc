"""Model quality history: HR@10 and NDCG@10 per day, and the alert when today falls behind.

Each day's values are the new bundle's test metrics (NeuMF, full ranking, on the day after its
validation window: what players really played next), recorded by the daily run's `train` step in
the run history. Today alerts when its value is below the trailing median of the previous
`window` days by more than `margin` of that median (`settings.quality_alert_margin`, default
0.15: below 85% of the median). A relative margin reads the same for HR@10 (~0.3) and NDCG@10
(~0.15); a median rather than a mean keeps one bad day from dragging the baseline down.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

# metric name in the report → key in the train step's recorded metrics
QUALITY_METRICS: dict[str, str] = {"hr10": "test_hr10", "ndcg10": "test_ndcg10"}


@dataclass(frozen=True)
class QualityCheck:
    """Today's value of one metric against its trailing median."""

    metric: str
    value: float
    median: float | None
    history_days: int
    margin: float
    threshold: float | None
    is_alert: bool

    @property
    def message(self) -> str:
        if self.median is None or self.threshold is None:
            return (
                f"{self.metric} {self.value:.4f}: only {self.history_days} day(s) of history, "
                "no baseline yet"
            )
        drop = 1 - self.value / self.median if self.median else 0.0
        verdict = "ALERT" if self.is_alert else "ok"
        return (
            f"{verdict}: {self.metric} {self.value:.4f} is {drop:+.1%} below its trailing "
            f"{self.history_days}-day median {self.median:.4f} (alert margin {self.margin:.0%}, "
            f"threshold {self.threshold:.4f})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def check_quality(
    today: Mapping[str, float],
    history: Mapping[date, Mapping[str, float]],
    margin: float,
    window: int,
    min_history: int,
) -> list[QualityCheck]:
    """Compare today's metrics with the median of the last `window` days of `history`.

    Args:
        today: metric → today's value (keys of `QUALITY_METRICS`).
        history: earlier days → metric → value (days after today must be left out).
        margin: relative drop below the median that raises the alert.
        window: trailing days whose median is the baseline.
        min_history: days of history needed before an alert can fire.
    """
    checks = []
    days = sorted(history)
    for metric, value in today.items():
        past = [float(history[d][metric]) for d in days if history[d].get(metric) is not None]
        past = past[-window:]
        if len(past) < min_history:
            checks.append(QualityCheck(metric, float(value), None, len(past), margin, None, False))
            continue
        median = statistics.median(past)
        threshold = median * (1 - margin)
        checks.append(
            QualityCheck(
                metric, float(value), median, len(past), margin, threshold, value < threshold
            )
        )
    return checks


def quality_from_train_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The quality metrics out of one train step's recorded result."""
    return {name: float(metrics[key]) for name, key in QUALITY_METRICS.items() if key in metrics}


def quality_history(train_metrics_by_day: Mapping[date, Mapping[str, Any]]) -> dict[date, dict]:
    """Day → quality metrics, from the run history's train step results."""
    return {
        day: quality_from_train_metrics(metrics)
        for day, metrics in train_metrics_by_day.items()
        if quality_from_train_metrics(metrics)
    }


def day_checks(
    settings: Any,
    today: Mapping[str, float],
    train_metrics_by_day: Mapping[date, Mapping],
    as_of: date,
) -> list[QualityCheck]:
    """The quality alert of `as_of`: today's figures against the train metrics of earlier days.

    The one place the alert is computed: the daily `monitor` step and the daily report both ask
    here, with the settings' margin, trailing window and minimum history.

    Args:
        settings: `quality_alert_margin`, `quality_history_days`, `quality_min_history`.
        today: `quality_from_train_metrics` of the day's run.
        train_metrics_by_day: The run history's train-step metrics by day (later days ignored).
        as_of: The day being judged.
    """
    past = quality_history({d: m for d, m in train_metrics_by_day.items() if d < as_of})
    return check_quality(
        dict(today),
        past,
        margin=settings.quality_alert_margin,
        window=settings.quality_history_days,
        min_history=settings.quality_min_history,
    )
