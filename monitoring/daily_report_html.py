"""The daily report's HTML: the numbers of `monitoring.daily_report` as one readable page.

Every section is a `<section id="section-<name>">` with a short headline in words, badges for
what needs attention, and Plotly plots; plotly.js is embedded once (first plot), so the page
needs no network. A section without data says so in one sentence instead of an empty plot.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

PLOT_HEIGHT = 340
STAGE_COLOURS = {"exploring": "#1f77b4", "graduated": "#2ca02c", "retired": "#7f7f7f"}
SECTION_TITLES = {
    "data": "1. Data: events and quarantine",
    "model": "2. Model quality",
    "drift": "3. Drift",
    "ab": "4. A/B experiment",
    "new_games": "5. New games",
    "service": "6. Service health",
    "responsible_play": "7. Responsible play",
}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
section { border-top: 1px solid #ddd; padding-top: 0.5em; margin-top: 1.5em; }
.badge { display: inline-block; padding: 0.15em 0.6em; border-radius: 0.8em; margin: 0.15em;
         font-weight: 600; font-size: 0.9em; }
.ok { background: #d9f2d9; color: #1a5e1a; } .bad { background: #f8d3d3; color: #8a1414; }
.na { background: #eee; color: #555; } .warn { background: #fff0c2; color: #7a5a00; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 0.2em 0.7em; }
th { text-align: left; border-bottom: 1px solid #ccc; } .note { color: #555; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_e(text)}</span>'


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class _Plots:
    """Turns figures into divs; the first one carries plotly.js inline."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, figure: go.Figure, title: str) -> str:
        figure.update_layout(title=title, height=PLOT_HEIGHT, margin={"t": 50, "b": 40})
        include: bool | str = "inline" if self.count == 0 else False
        self.count += 1
        return str(figure.to_html(full_html=False, include_plotlyjs=include))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _data(section: dict[str, Any], plots: _Plots) -> str:
    days = section.get("days", [])
    if not days:
        return _note("No delivery days in the window: no raw events were processed.")
    today = section.get("today")
    parts = []
    if today:
        share = today["rows_quarantined"] / today["rows_in"] if today["rows_in"] else 0.0
        parts.append(
            f"<p>Today {today['rows_in']:,} raw events arrived; {today['rows_quarantined']:,} "
            f"({share:.1%}) were quarantined and {today['rows_out']:,} went on.</p>"
        )
    x = [d["day"] for d in days]
    figure = go.Figure(
        [
            go.Bar(name="clean", x=x, y=[d["rows_out"] for d in days], marker_color="#4c78a8"),
            go.Bar(
                name="quarantined",
                x=x,
                y=[d["rows_quarantined"] for d in days],
                marker_color="#e45756",
            ),
        ]
    )
    figure.update_layout(barmode="stack", yaxis_title="events")
    parts.append(plots.div(figure, "Raw events per delivery day"))
    reasons = sorted(section.get("quarantined_by_reason", {}))
    if reasons:
        by_reason = go.Figure(
            [
                go.Bar(
                    name=reason, x=x, y=[d["quarantined_by_reason"].get(reason, 0) for d in days]
                )
                for reason in reasons
            ]
        )
        by_reason.update_layout(barmode="stack", yaxis_title="quarantined rows")
        parts.append(plots.div(by_reason, "Quarantined rows per day, by reason"))
    parts.append(_note(f"Source: {section.get('source')}."))
    return "".join(parts)


def _model(section: dict[str, Any], plots: _Plots) -> str:
    parts = []
    checks = section.get("checks", [])
    if section.get("note"):
        parts.append(_note(section["note"]))
    for check in checks:
        if check["median"] is None:
            kind, label = "na", "NO BASELINE YET"
        else:
            kind, label = ("bad", "ALERT") if check["is_alert"] else ("ok", "OK")
        badge = _badge(f"{check['metric']}: {label}", kind)
        parts.append(f"<p>{badge} {_e(check['message'])}</p>")
    days = section.get("days", [])
    if not days:
        parts.append(_note("No trained model in the window: nothing to plot."))
        return "".join(parts)
    x = [d["day"] for d in days]
    models = sorted({m for d in days for m in d["ndcg10"]}, key=lambda m: (m != "neumf", m))
    ndcg = go.Figure(
        [
            go.Scatter(
                name=model,
                x=x,
                y=[d["ndcg10"].get(model) for d in days],
                mode="lines+markers",
                line={"width": 3 if model == "neumf" else 1.5},
            )
            for model in models
        ]
    )
    ndcg.update_layout(yaxis_title="NDCG@10 (test day)")
    parts.append(plots.div(ndcg, "NDCG@10 per day: NeuMF against the baselines"))
    hr = go.Figure(
        go.Scatter(name="NeuMF HR@10", x=x, y=[d["hr10"] for d in days], mode="lines+markers")
    )
    for check in checks:
        if check["metric"] == "hr10" and check["threshold"] is not None:
            hr.add_hline(
                y=check["threshold"], line_dash="dash", annotation_text="alert threshold today"
            )
    hr.update_layout(yaxis_title="HR@10 (test day)")
    parts.append(plots.div(hr, "NeuMF HR@10 per day"))
    parts.append(_versus(section.get("vs_baselines", {})))
    return "".join(parts)


def _versus(gaps: dict[str, dict[str, Any]]) -> str:
    """Today's NeuMF − baseline NDCG@10 gaps, each with its paired 95% interval and verdict."""
    if not gaps:
        return ""
    rows = []
    for name, gap in sorted(gaps.items()):
        low, high = (float(bound) for bound in gap["ci95"])
        if low > 0:
            verdict = "NeuMF ahead"
        elif high < 0:
            verdict = "NeuMF behind"
        else:
            verdict = "level (interval holds 0)"
        rows.append([name, gap["delta"], low, high, gap["p_value"], verdict])
    headers = ["baseline", "NeuMF − baseline", "95% low", "95% high", "p", "verdict"]
    return "<h3>Today: NeuMF against each baseline (test-day NDCG@10)</h3>" + _table(headers, rows)


def _drift(section: dict[str, Any], plots: _Plots) -> str:
    kinds = {"OK": "ok", "DRIFT": "bad", "NOT MEASURED": "na"}
    items = "".join(
        f"<li>{_badge(flag['status'], kinds.get(flag['status'], 'na'))} <b>{_e(name)}</b>: "
        f"{_e(flag.get('detail', ''))}</li>"
        for name, flag in section.get("flags", {}).items()
    )
    parts = [f"<ul>{items}</ul>"]
    trend = section.get("trend", {})
    if trend:
        figure = go.Figure(
            [
                go.Scatter(
                    name=name,
                    x=[p["day"] for p in points],
                    y=[p["value"] for p in points],
                    mode="lines+markers",
                )
                for name, points in trend.items()
            ]
        )
        figure.update_layout(yaxis_title="share drifted / aligned cosine", yaxis_range=[0, 1.05])
        parts.append(
            plots.div(
                figure,
                "Drift over days (data and recommendations: share of drifted columns; "
                "embeddings: aligned cosine, lower = moved more)",
            )
        )
    else:
        parts.append(_note("No drift was measured in the window: nothing to plot."))
    return "".join(parts)


def _ab(section: dict[str, Any], plots: _Plots) -> str:
    if section.get("status") != "ok":
        name = section.get("experiment")
        prefix = f"Experiment {name}: " if name else ""
        return _note(prefix + section.get("note", "no experiment data"))
    primary = section["primary_metric"]
    winner = section.get("winner")
    parts = [
        f"<p>Experiment <b>{_e(section['experiment'])}</b>, control "
        f"<b>{_e(section['control'])}</b>. "
        f"{_badge('winner: ' + winner, 'ok') if winner else _badge('no winner yet', 'na')} "
        f"{_e(section['verdict'])}</p>"
    ]
    variants = list(section["estimates"])
    estimates = [section["estimates"][v][primary] for v in variants]
    figure = go.Figure(
        go.Bar(
            x=variants,
            y=[e["value"] for e in estimates],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [e["ci_high"] - e["value"] for e in estimates],
                "arrayminus": [e["value"] - e["ci_low"] for e in estimates],
            },
            text=[f"{e['exposures']:,} lists" for e in estimates],
        )
    )
    figure.update_layout(yaxis_title=primary)
    parts.append(plots.div(figure, f"{primary} by variant (95% CI)"))
    guards = section.get("guardrails", [])
    if guards:
        kinds = {"pass": "ok", "fail": "bad", "inconclusive": "warn", "not_applicable": "na"}
        parts.append(
            "<p>Guardrails: "
            + " ".join(
                _badge(f"{g['variant']} {g['name']}: {g['status']}", kinds[g["status"]])
                for g in guards
            )
            + "</p>"
        )
    play = section.get("responsible_play", {})
    if play:
        parts.append(
            _table(
                [
                    "variant",
                    "impressions",
                    "to at-risk players",
                    "high-vol. share at-risk",
                    "high-vol. share others",
                    "to restricted players (must be 0)",
                ],
                [
                    [
                        v,
                        n["impressions"],
                        n["at_risk_impressions"],
                        n["high_volatility_share_at_risk"],
                        n["high_volatility_share_others"],
                        n["restricted_impressions"],
                    ]
                    for v, n in play.items()
                ],
            )
        )
    files = section.get("files", {})
    if files.get("html"):
        parts.append(_note(f"Full readout: {files['html']}"))
    return "".join(parts)


def _new_games(section: dict[str, Any], plots: _Plots) -> str:
    games = section.get("games", [])
    if not games:
        return _note(section.get("note", "no new game has been registered"))
    bar, cap = section["min_play_rate"], section["exposure_cap"]
    by_stage = section.get("by_stage", {})
    parts = [
        f"<p>{len(games)} new game(s): "
        + " ".join(_badge(f"{n} {s}", "na") for s, n in by_stage.items() if n)
        + f". A game is reviewed after {cap:,} exploration impressions and graduates with a "
        f"play rate of at least {bar:.1%}.</p>"
    ]
    ids = [g["slot_id"] for g in games]
    rate = go.Figure(
        go.Bar(
            x=ids,
            y=[g["play_rate"] or 0.0 for g in games],
            marker_color=[STAGE_COLOURS[g["stage"]] for g in games],
            text=[f"{g['stage']} · {g['impressions']:,} impr." for g in games],
        )
    )
    rate.add_hline(y=bar, line_dash="dash", annotation_text="graduation bar")
    rate.update_layout(yaxis_title="plays / impressions", yaxis_tickformat=".1%")
    parts.append(plots.div(rate, "Play rate of each new game against the graduation bar"))
    exposure = go.Figure(
        [
            go.Bar(name="impressions", x=ids, y=[g["impressions"] for g in games]),
            go.Bar(name="plays", x=ids, y=[g["plays"] for g in games]),
        ]
    )
    exposure.add_hline(y=cap, line_dash="dot", annotation_text="review at")
    parts.append(plots.div(exposure, "Impressions and plays of each new game"))
    parts.append(
        _table(
            ["game", "stage", "impressions", "plays", "play rate"],
            [
                [g["slot_id"], g["stage"], g["impressions"], g["plays"], g["play_rate"]]
                for g in games
            ],
        )
    )
    return "".join(parts)


def _service(section: dict[str, Any], plots: _Plots) -> str:
    status = section.get("status")
    if status == "not_configured":
        return _note("Service not reachable: no service URL is configured (SLOTREC_SERVICE_URL).")
    if status != "ok":
        return _note(f"Service not reachable at {section.get('url')}: {section.get('error')}")
    total = section["requests_total"]
    share = section.get("fallback_share")
    latency = section.get("latency_seconds", {}).get("all", {})
    p50, p99 = latency.get("p50"), latency.get("p99")
    parts = [
        f"<p>{_badge('service up', 'ok')} {total:,} requests since the service started; "
        f"{section['fallbacks_total']:,} fallbacks"
        + (f" ({share:.1%})" if share is not None else "")
        + (f"; latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms" if p50 and p99 else "")
        + ".</p>"
    ]
    outcomes = section.get("requests_by_outcome", {})
    if outcomes:
        figure = go.Figure(go.Bar(x=list(outcomes), y=list(outcomes.values())))
        figure.update_layout(yaxis_title="requests")
        parts.append(plots.div(figure, "Requests by outcome"))
    buckets = section.get("latency_buckets", {})
    if buckets:
        figure = go.Figure()
        for endpoint, series in buckets.items():
            counts = [c for _, c in series]
            per_bucket = [c - (counts[i - 1] if i else 0) for i, c in enumerate(counts)]
            figure.add_trace(
                go.Bar(name=endpoint, x=[f"≤{b * 1000:g} ms" for b, _ in series], y=per_bucket)
            )
        figure.update_layout(yaxis_title="requests", barmode="group")
        parts.append(plots.div(figure, "Latency distribution (requests per bucket)"))
    causes = section.get("fallbacks_by_cause", {})
    if causes:
        parts.append(_table(["fallback cause", "lists"], [[k, v] for k, v in causes.items()]))
    parts.append(_note(f"Scraped from {section.get('url')}; counts are since the service started."))
    return "".join(parts)


def _responsible_play(section: dict[str, Any], plots: _Plots) -> str:
    today, days = section["today"], section.get("days", [])
    restricted = today["restricted"]
    status = restricted["status"]
    high = today["high_volatility"]
    badge = _badge(
        f"recommendations to restricted players: {status}", "ok" if status == "OK" else "bad"
    )
    parts = [
        f"<p>{badge} "
        f"{restricted['impressions']:,} impressions in {restricted['lists']:,} lists to "
        f"{restricted['players']:,} restricted players today (must be 0).</p>"
    ]
    excluded = today.get("excluded_volatility_impressions", 0)
    badge = _badge(
        f"excluded volatility shown to at-risk players: {excluded}",
        "ok" if excluded == 0 else "bad",
    )
    parts.append(
        f"<p>{badge} "
        f"{today['at_risk_lists']:,} lists to {today['at_risk_players']:,} at-risk players "
        f"(levels {', '.join(section.get('guarded_levels', []))}); high / very-high volatility "
        f"share of impressions: at-risk {_fmt(high['at_risk']['share'], 3)} "
        f"({high['at_risk']['high_volatility']:,} of {high['at_risk']['impressions']:,}), "
        f"everyone else {_fmt(high['others']['share'], 3)} "
        f"({high['others']['high_volatility']:,} of {high['others']['impressions']:,}).</p>"
    )
    if today.get("note"):
        parts.append(_note(today["note"] + "."))
    x = [d["day"] for d in days]
    if any(d["impressions"] for d in days):
        restricted_fig = go.Figure(
            [
                go.Bar(name="lists", x=x, y=[d["restricted"]["lists"] for d in days]),
                go.Bar(name="impressions", x=x, y=[d["restricted"]["impressions"] for d in days]),
            ]
        )
        restricted_fig.update_layout(yaxis_title="to restricted players", barmode="group")
        parts.append(plots.div(restricted_fig, "Recommendations to restricted players (must be 0)"))
        share = go.Figure(
            [
                go.Scatter(
                    name=name,
                    x=x,
                    y=[d["high_volatility"][key]["share"] for d in days],
                    mode="lines+markers",
                )
                for key, name in (("at_risk", "at-risk players"), ("others", "everyone else"))
            ]
        )
        share.update_layout(yaxis_title="high-volatility share", yaxis_tickformat=".0%")
        parts.append(plots.div(share, "High / very-high volatility share of impressions"))
        names = sorted({g for d in days for g in d["guardrail_activations"]})
        activations = go.Figure(
            [
                go.Bar(name=g, x=x, y=[d["guardrail_activations"].get(g, 0) for d in days])
                for g in names
            ]
        )
        activations.update_layout(yaxis_title="lists", barmode="group")
        parts.append(plots.div(activations, "Guardrail activations per day (lists)"))
    else:
        parts.append(_note("No served recommendations in the window: nothing to plot."))
    counters = section.get("service_guardrails_since_start")
    if counters:
        parts.append(
            _table(
                ["guardrail", "activations since the service started"],
                list(map(list, counters.items())),
            )
        )
    parts.append(
        _note(
            "Activations per day are derived from the served lists (each list to an at-risk "
            "player counts once per guardrail of its level); restricted requests and reality "
            "checks leave no impression and appear only in the service's counters."
        )
    )
    return "".join(parts)


RENDERERS = {
    "data": _data,
    "model": _model,
    "drift": _drift,
    "ab": _ab,
    "new_games": _new_games,
    "service": _service,
    "responsible_play": _responsible_play,
}


def _headline(sections: dict[str, dict[str, Any]]) -> str:
    """The badges at the top: what needs a look today."""
    badges = []
    model = sections.get("model", {})
    badges.append(
        _badge("model quality ALERT", "bad") if model.get("is_alert") else _badge("model ok", "ok")
    )
    drifted = sections.get("drift", {}).get("drifted", [])
    badges.append(
        _badge(f"drift: {', '.join(drifted)}", "bad") if drifted else _badge("no drift", "ok")
    )
    ab = sections.get("ab", {})
    if ab.get("status") == "ok":
        badges.append(
            _badge(f"A/B winner: {ab['winner']}" if ab.get("winner") else "A/B running", "na")
        )
    play = sections.get("responsible_play", {}).get("status")
    if play:
        badges.append(
            _badge("recommendations to restricted players: ALERT", "bad")
            if play != "OK"
            else _badge("restricted players: 0 recommendations", "ok")
        )
    service = sections.get("service", {}).get("status")
    badges.append(
        _badge("service up", "ok") if service == "ok" else _badge("service not reachable", "na")
    )
    return "<p>" + " ".join(badges) + "</p>"


def render_html(payload: dict[str, Any]) -> str:
    """The whole page for the report `payload` (what `daily_report.json` holds)."""
    plots = _Plots()
    sections = payload["sections"]
    body = []
    for name, title in SECTION_TITLES.items():
        section = sections.get(name, {})
        if "error" in section:
            content = f"<p>{_badge('not available', 'bad')} {_e(section['error'])}</p>"
        else:
            content = RENDERERS[name](section, plots)
        body.append(f'<section id="section-{name}"><h2>{_e(title)}</h2>{content}</section>')
    warnings = "".join(f"<li>{_e(w)}</li>" for w in payload.get("warnings", []))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>slotrec daily report {_e(payload['as_of'])}</title><style>{_STYLE}</style>"
        f"</head><body><h1>slotrec daily report: {_e(payload['as_of'])}</h1>"
        f"<p class='note'>Generated {_e(payload['generated_at'])}.</p>"
        + _headline(sections)
        + (f"<ul>{warnings}</ul>" if warnings else "")
        + "".join(body)
        + "</body></html>"
    )
