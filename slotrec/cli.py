"""The `slotrec` command line: one subcommand per stage; each parses, delegates, reports.

All logic lives in typed functions elsewhere (`slotrec.daily`, `slotrec.transform`,
`slotrec.simulator`, `feature_repo.store`, …) so tests call exactly what operators run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.status import Status

from slotrec.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from slotrec.core.run_report import RunReport
    from training.external import InteractionColumns

app = typer.Typer(
    name="slotrec",
    help="Slot-lobby recommendations: simulate, transform, features, daily runs, benchmarks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

console = Console(stderr=True)
log = logging.getLogger("slotrec")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Root of all data (default: $SLOTREC_DATA_DIR or ./data)."),
]
AsOfOption = Annotated[
    str, typer.Option("--as-of", help="The run date (UTC delivery day), YYYY-MM-DD.")
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="First delivery day to process (backfill); default: --as-of."),
]


def _settings(data_dir: Path | None) -> Settings:
    return get_settings(data_dir=data_dir) if data_dir else get_settings()


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date in YYYY-MM-DD form", param_hint=option
        ) from None


def _parse_range(as_of: str, from_date: str | None) -> tuple[date, date | None]:
    """Parse --as-of and --from; a range that runs backwards is a bad argument."""
    end = _parse_day(as_of, "--as-of")
    start = _parse_day(from_date, "--from") if from_date else None
    if start is not None and start > end:
        raise typer.BadParameter(f"{start} is after --as-of {end}", param_hint="--from")
    return end, start


def _dbt_lines(status: Status) -> Callable[[str], None]:
    """A callback that shows each dbt log line (cut to 100 characters) on a spinner."""
    return lambda line: status.update(f"dbt: {line[:100]}")


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Configure logging once, for whichever subcommand runs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("feast", "urllib3", "ibis", "filelock", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def simulate(
    data_dir: DataDirOption = None,
    players: Annotated[int, typer.Option(min=1, help="Players at the start.")] = 2_000,
    slots: Annotated[int, typer.Option(min=1, help="Slots at the start.")] = 200,
    days: Annotated[int, typer.Option(min=1, help="Days of play to generate.")] = 7,
    start: Annotated[str, typer.Option(help="First simulated day, YYYY-MM-DD.")] = "2026-01-01",
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same world.")] = 7,
    dirt_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of dirty rows added per day.")
    ] = 0.02,
) -> None:
    """Generate a seeded casino world: catalogue, players, daily raw events, hidden truth."""
    from slotrec.simulator import SimulationConfig, simulate_world

    settings = _settings(data_dir)
    try:
        config = SimulationConfig(
            seed=seed,
            n_players=players,
            n_slots=slots,
            days=days,
            start_date=_parse_day(start, "--start"),
            dirt_rate=dirt_rate,
        )
    except ValueError as exc:
        raise _fail(f"invalid simulation settings: {exc}", 2) from exc
    with _progress("simulating") as progress:
        summary = simulate_world(config, settings.layout, progress=progress)
    console.print(f"[green]simulated[/green] {summary}")
    console.print(f"raw data under {settings.layout.raw_dir}")


@app.command()
def transform(
    as_of: AsOfOption,
    from_date: FromOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run `dbt build` (models + tests) for the delivery days up to --as-of."""
    from slotrec import transform as transform_stage

    settings = _settings(data_dir)
    day, start = _parse_range(as_of, from_date)
    with console.status("dbt build") as status:
        try:
            result = transform_stage.build(settings, day, start, on_line=_dbt_lines(status))
        except transform_stage.TransformError as exc:
            raise _fail(str(exc)) from exc
    console.print(
        f"[green]dbt build ok[/green] in {result.seconds:.1f}s: {result.models} models, "
        f"{result.tests} tests → {result.warehouse}"
    )


@app.command()
def features(
    as_of: AsOfOption,
    data_dir: DataDirOption = None,
    print_env: Annotated[
        bool, typer.Option(help="Print the env vars that point the `feast` CLI at this store.")
    ] = False,
) -> None:
    """Export the feature marts, `feast apply`, and materialize up to --as-of."""
    from feature_repo import store as feature_store
    from slotrec.daily import load_features

    settings = _settings(data_dir)
    if print_env:
        for key, value in feature_store.feast_env(settings).items():
            typer.echo(f"export {key}={value}")
        return
    day = _parse_day(as_of, "--as-of")
    if not settings.layout.warehouse_path.exists():
        warehouse = settings.layout.warehouse_path
        raise _fail(f"no warehouse at {warehouse}: run `slotrec transform` first")
    with console.status("feast apply + materialize"):
        result = load_features(settings, day)
    console.print(f"[green]features loaded[/green]: {result}")


@app.command()
def daily(
    as_of: AsOfOption,
    from_date: FromOption = None,
    data_dir: DataDirOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Skip steps this day already finished with unchanged inputs."
        ),
    ] = False,
) -> None:
    """Run every pipeline stage for one day (or a backfill range) and write the run report."""
    from slotrec.core.run_report import print_summary
    from slotrec.daily import StepFailed, run_daily

    settings = _settings(data_dir)
    day, start = _parse_range(as_of, from_date)
    with console.status("daily run") as status:

        def on_step(step: str) -> None:
            log.info("step: %s", step)
            status.update(step)

        try:
            report, path = run_daily(
                settings,
                day,
                start,
                on_step=on_step,
                on_dbt_line=_dbt_lines(status),
                resume=resume,
            )
        except StepFailed as exc:
            message = f"daily run failed at step '{exc.step}': {exc}\nreport: {exc.report_path}"
            raise _fail(message) from exc
    print_summary(report, Console(), path)


@app.command()
def check(as_of: AsOfOption, data_dir: DataDirOption = None) -> None:
    """Exit 1 when the day's HR@10 or NDCG@10 fell below its trailing median by the margin."""
    from monitoring.quality import day_checks, quality_from_train_metrics
    from slotrec.core.run_history import RunHistory

    settings = _settings(data_dir)
    day = _parse_day(as_of, "--as-of")
    history = RunHistory(settings.layout.run_history_path)
    recorded = history.step_metrics_by_day("train")
    today = quality_from_train_metrics(recorded.get(day, {}))
    if not today:
        raise _fail(f"no successful training run is recorded for {day}: run `slotrec daily`", 2)
    checks = day_checks(settings, today, recorded, day)
    for item in checks:
        colour = "red" if item.is_alert else "green"
        Console().print(f"[{colour}]{item.message}[/{colour}]", soft_wrap=True)
    if any(item.is_alert for item in checks):
        raise typer.Exit(1)


@app.command()
def report(as_of: AsOfOption, data_dir: DataDirOption = None) -> None:
    """(Re)build the day's HTML report (data, model, drift, A/B, new games, service health)."""
    from monitoring.daily_report import build_daily_report

    settings = _settings(data_dir)
    day = _parse_day(as_of, "--as-of")
    layout = settings.layout
    if not layout.run_dir(day).exists() and not layout.reports_dir(day).exists():
        raise _fail(f"no daily run for {day} under {layout.root}: run `slotrec daily` first", 2)
    path = build_daily_report(settings, day)
    Console().print(f"daily report: {path}", soft_wrap=True)


@app.command()
def dashboard(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL; open no browser.")
    ] = False,
) -> None:
    """Start the Evidently UI on the monitoring workspace (quality, drift, coverage, A/B)."""
    from monitoring.dashboard import serve_dashboard

    workspace = _settings(data_dir).layout.monitoring_workspace_dir
    console.print(
        f"dashboard: [bold]http://{host}:{port}[/bold] (workspace {workspace}); Ctrl+C stops"
    )
    serve_dashboard(workspace, host=host, port=port, open_browser=not no_browser)


@app.command()
def train(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Retrain on the warehouse as of this day.")
    ] = None,
    interactions: Annotated[
        Path | None,
        typer.Option(help="Train on any CSV/parquet log instead of the warehouse."),
    ] = None,
    user_col: Annotated[str, typer.Option(help="--interactions: user column.")] = "user_id",
    item_col: Annotated[str, typer.Option(help="--interactions: item column.")] = "item_id",
    time_col: Annotated[str, typer.Option(help="--interactions: timestamp column.")] = "timestamp",
    weight_col: Annotated[
        str | None, typer.Option(help="--interactions: optional weight column.")
    ] = None,
    split: Annotated[
        str, typer.Option(help="--interactions: leave_last_out or temporal.")
    ] = "leave_last_out",
    epochs: Annotated[int | None, typer.Option(min=1, help="Upper bound on epochs.")] = None,
    history_order: Annotated[
        str,
        typer.Option(
            help="profile: each player's vector pools all their slots; sequence: each play "
            "is learned from the slots played before it (for logs where order matters)."
        ),
    ] = "profile",
    history_decay: Annotated[
        float,
        typer.Option(
            max=1.0,
            help="--history-order sequence: weight per step back from the newest play, in (0, 1].",
        ),
    ] = 1.0,
    out: Annotated[Path | None, typer.Option(help="Write the evaluation JSON here.")] = None,
    no_promote: Annotated[bool, typer.Option(help="Write the bundle but never promote.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Train NeuMF + baselines, evaluate, write a bundle and gate it (or evaluate a file)."""
    if (as_of is None) == (interactions is None):
        raise typer.BadParameter("give exactly one of --as-of and --interactions")
    overrides = _train_overrides(epochs, history_order, history_decay)
    if interactions is not None:
        from training.external import InteractionColumns

        if split not in ("leave_last_out", "temporal"):
            raise typer.BadParameter("must be leave_last_out or temporal", param_hint="--split")
        columns = InteractionColumns(user_col, item_col, time_col, weight_col)
        _train_on_file(interactions, columns, split, overrides, out)
        return
    _train_on_warehouse(_settings(data_dir), str(as_of), overrides, out, promote=not no_promote)


def _train_overrides(
    epochs: int | None, history_order: str, history_decay: float
) -> dict[str, Any]:
    """Check the history options and turn the options into training-config overrides.

    Args:
        epochs: --epochs (None or 0: the config's own bound).
        history_order: --history-order, `profile` or `sequence`.
        history_decay: --history-decay, in (0, 1] (typer checks the upper end).

    Returns:
        Keyword overrides for `training.pipeline.slotrec_train_config`.

    Raises:
        typer.BadParameter: an unknown history order or a decay of 0 or less.
    """
    if history_order not in ("profile", "sequence"):
        raise typer.BadParameter(
            f"must be 'profile' or 'sequence', got {history_order!r}", param_hint="--history-order"
        )
    if history_decay <= 0.0:
        raise typer.BadParameter(
            f"must be in (0, 1], got {history_decay}", param_hint="--history-decay"
        )
    overrides: dict[str, Any] = {"history_order": history_order, "history_decay": history_decay}
    if epochs:
        overrides["epochs"] = epochs
    return overrides


def _train_on_file(
    interactions: Path,
    columns: InteractionColumns,
    split: str,
    overrides: dict[str, Any],
    out: Path | None,
) -> None:
    """`slotrec train --interactions`: train and evaluate on a file, write and show the metrics.

    Args:
        interactions: The CSV or parquet log.
        columns: Which of its columns hold what.
        split: `leave_last_out` or `temporal` (already checked).
        overrides: Training-config overrides (`_train_overrides`).
        out: Where the evaluation JSON goes; default `runs/train-<file stem>.json`.

    Raises:
        typer.Exit: the file cannot be read as interactions (code 1, named).
    """
    from slotrec.core.atomic import write_json_atomic
    from training.external import InteractionsFileError, train_on_file
    from training.pipeline import slotrec_train_config

    try:
        metrics = train_on_file(
            interactions,
            columns,
            # the file's own weights are used as they are, not graded like slot play
            slotrec_train_config(weight_fn=None, **overrides),
            split,  # type: ignore[arg-type]
        )
    except InteractionsFileError as exc:
        raise _fail(str(exc)) from exc
    target = out or Path("runs") / f"train-{interactions.stem}.json"
    write_json_atomic(target, metrics)
    _print_model_table(metrics)
    console.print(f"evaluation: {target}")


def _train_on_warehouse(
    settings: Settings, as_of: str, overrides: dict[str, Any], out: Path | None, *, promote: bool
) -> None:
    """`slotrec train --as-of`: retrain on the warehouse, write the bundle, gate it, report.

    Args:
        settings: Where the warehouse, runs and bundles are.
        as_of: --as-of, YYYY-MM-DD (parsed here).
        overrides: Training-config overrides (`_train_overrides`).
        out: Where the training summary goes; default the day's run folder.
        promote: Whether a bundle that passes the gate is promoted.

    Raises:
        typer.BadParameter: --as-of is not a date.
        typer.Exit: there is no warehouse yet (code 1).
    """
    from slotrec.core.atomic import write_json_atomic
    from slotrec.simulator.truth import simulated_truth
    from training.pipeline import run_training, slotrec_train_config

    day = _parse_day(as_of, "--as-of")
    if not settings.layout.warehouse_path.exists():
        raise _fail(f"no warehouse at {settings.layout.warehouse_path}: run `slotrec daily` first")
    outcome = run_training(
        settings,
        day,
        slotrec_train_config(**overrides),
        promote=promote,
        truth=simulated_truth(settings.layout),
    )
    summary = outcome.summary()
    write_json_atomic(out or settings.layout.run_dir(day) / "training.json", summary)
    _print_model_table(outcome.bundle.metrics)
    verdict = "[green]promoted[/green]" if outcome.promoted else "[yellow]not promoted[/yellow]"
    console.print(f"bundle {summary['bundle']} {verdict}: {outcome.decision.reason}")


@app.command()
def rollback(data_dir: DataDirOption = None) -> None:
    """Serve the previously promoted bundle again (one atomic step)."""
    from training.promotion import PromotionError, PromotionRegistry

    registry = PromotionRegistry(_settings(data_dir).layout.promoted_path)
    current = registry.current
    try:
        restored = registry.rollback()
    except PromotionError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"rolled back from {current} to [green]{restored}[/green]")


restrictions_app = typer.Typer(help="Self-excluded and cooling-off players (responsible play).")
app.add_typer(restrictions_app, name="restrictions")


@restrictions_app.command("load")
def restrictions_load(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="CSV or parquet list (default: <data>/raw/restrictions/restrictions.csv)."
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load the operator's list into the serving registry: in force on the next request."""
    from bentos.restrictions import RestrictionFileError, RestrictionRegistry, read_restriction_file

    layout = _settings(data_dir).layout
    path = file or layout.restrictions_path
    try:
        rows = read_restriction_file(path)
    except RestrictionFileError as exc:
        raise _fail(str(exc)) from exc
    counts = RestrictionRegistry(layout.restrictions_registry_path).replace_source("file", rows)
    console.print(
        f"{counts['loaded']} restriction(s) loaded from {path} "
        f"({counts['in_force']} in force now); {counts['lifted']} player(s) no longer listed"
    )


redis_app = typer.Typer(help="The Redis online store (SLOTREC_ONLINE_STORE=redis).")
app.add_typer(redis_app, name="redis")


@redis_app.command("start")
def redis_start(
    data_dir: DataDirOption = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 6379,
    bind: Annotated[
        str, typer.Option(help="Address(es) to listen on; 0.0.0.0 lets other hosts in.")
    ] = "127.0.0.1",
    redis_dir: Annotated[
        Path | None, typer.Option("--dir", help="Its working folder (default: <data>/redis).")
    ] = None,
    persist: Annotated[
        bool, typer.Option(help="Keep an append-only file in --dir (fsync every second).")
    ] = True,
) -> None:
    """Run redis-server in the foreground for the Redis online store (stop it with Ctrl-C)."""
    import os

    from slotrec.redis_server import RedisServerMissing, redis_server_command

    folder = (redis_dir or _settings(data_dir).layout.root / "redis").resolve()
    try:
        command = redis_server_command(port, folder, bind=bind, persist=persist)
    except RedisServerMissing as exc:
        raise _fail(str(exc)) from exc
    folder.mkdir(parents=True, exist_ok=True)
    console.print(f"redis-server on {bind}:{port}, folder {folder}")
    os.execv(command[0], command)


@app.command()
def serve(
    data_dir: DataDirOption = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    workers: Annotated[
        int, typer.Option(min=0, help="Worker processes (0: one per CPU core).")
    ] = 0,
) -> None:
    """Serve the promoted bundle over HTTP (`bentoml serve bentos.service:SlotrecService`).

    One worker per core by default (`service_process.workers_for`).
    """
    import os
    import sys

    from bentos.native_threads import ONE_THREAD_ENV
    from slotrec.core.settings import REPO_ROOT
    from slotrec.service_process import workers_for

    settings = _settings(data_dir)
    if not settings.layout.promoted_path.exists():
        console.print(
            f"[yellow]warning:[/yellow] no promoted bundle in {settings.layout.promoted_path}: "
            "the service will answer from popular slots (fallback) until a bundle is promoted"
        )
    os.environ["SLOTREC_DATA_DIR"] = str(settings.data_dir)
    os.environ["SLOTREC_SERVE_WORKERS"] = str(workers_for(workers))
    # one native thread per request from the first one on (see bentos.native_threads)
    for name, value in ONE_THREAD_ENV.items():
        os.environ.setdefault(name, value)
    # the service finds its bundles under the data directory (training.model_store)
    os.environ.setdefault("BENTOML_HOME", str(settings.layout.bentoml_home))
    command = [sys.executable, "-m", "bentoml", "serve", "bentos.service:SlotrecService"]
    os.chdir(REPO_ROOT)
    os.execv(sys.executable, [*command, "--host", host, "--port", str(port)])


def _print_model_table(metrics: dict[str, Any]) -> None:
    """NeuMF and baselines side by side: validation and test, full and sampled ranking."""
    from rich.table import Table

    table = Table(title="NeuMF vs baselines (@10)", show_edge=False)
    for column in (
        "model",
        "valid NDCG",
        "test HR full",
        "test NDCG full",
        "test HR 99",
        "test NDCG 99",
    ):
        table.add_column(column, justify="right")
    test = metrics["test"]
    for name, valid in metrics["validation"].items():
        table.add_row(
            name,
            f"{valid['ndcg10']:.4f}",
            f"{test['full'][name]['hr10']:.4f}",
            f"{test['full'][name]['ndcg10']:.4f}",
            f"{test['sampled'][name]['hr10']:.4f}",
            f"{test['sampled'][name]['ndcg10']:.4f}",
        )
    Console().print(table)


@app.command()
def demo(
    data_dir: DataDirOption = None,
    players: Annotated[int, typer.Option(min=10)] = 2_000,
    slots: Annotated[int, typer.Option(min=10)] = 200,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Simulated days (default 7); with --closed-loop: closed-loop days (default 3).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option()] = 7,
    closed_loop: Annotated[
        bool,
        typer.Option(
            "--closed-loop",
            help="After the history, run simulated days against a real `bentoml serve`: "
            "lobby traffic, an A/B test, new games, a daily run per day.",
        ),
    ] = False,
    history_days: Annotated[
        int, typer.Option(min=2, help="--closed-loop: days of simulated history first.")
    ] = 7,
    lobby_players: Annotated[
        int, typer.Option(min=1, help="--closed-loop: players who open the lobby each day.")
    ] = 1_500,
) -> None:
    """The quick-start job: simulate a small world, backfill it, run the last day, show it.

    The backfill loads the history; the last day is an ordinary daily run, so it also
    retrains, gates and promotes the first bundle. With --closed-loop, the service then runs
    and simulated players use it for --days days (`slotrec.closed_loop`).
    """
    from slotrec.core.run_report import print_summary

    if closed_loop:
        _closed_loop_demo(data_dir, players, slots, days or 3, seed, history_days, lobby_players)
        return
    days = days or 7
    if days < 2:
        raise typer.BadParameter("the demo needs at least 2 days", param_hint="--days")
    settings = _settings(data_dir)
    first, last = _simulate_demo_world(settings, players, slots, days, seed)
    report, path = _run_demo_days(settings, first, last)
    out = Console()
    print_summary(report, out, path)
    _show_most_active_player(settings, out)


def _simulate_demo_world(
    settings: Settings, players: int, slots: int, days: int, seed: int
) -> tuple[date, date]:
    """Simulate the plain demo's world, from 2026-01-01, with a progress bar.

    Args:
        settings: Where the raw data and truth go.
        players: Players at the start.
        slots: Slots at the start.
        days: Days of play (at least 2).
        seed: Random seed.

    Returns:
        The first and the last simulated day.
    """
    from slotrec.simulator import SimulationConfig, simulate_world

    first = date(2026, 1, 1)
    last = first + timedelta(days=days - 1)
    config = SimulationConfig(
        seed=seed, n_players=players, n_slots=slots, days=days, start_date=first
    )
    with _progress("simulating") as progress:
        simulate_world(config, settings.layout, progress=progress)
    return first, last


def _run_demo_days(settings: Settings, first: date, last: date) -> tuple[RunReport, Path]:
    """Backfill `first` up to the day before `last` (no training), then a full daily run of `last`.

    Args:
        settings: The demo's settings.
        first: The first simulated day.
        last: The last simulated day, the one that trains and promotes.

    Returns:
        The last day's run report and where it was written.

    Raises:
        typer.Exit: a step failed (code 1, with the step and the report's path).
    """
    from slotrec.daily import StepFailed, run_daily

    try:
        with console.status(f"backfill {first} .. {last - timedelta(days=1)}") as status:
            run_daily(
                settings,
                last - timedelta(days=1),
                first,
                with_training=False,
                on_dbt_line=_dbt_lines(status),
            )
        with console.status(f"daily run {last}") as status:
            report, path = run_daily(settings, last, on_dbt_line=_dbt_lines(status))
    except StepFailed as exc:
        message = f"demo failed at step '{exc.step}': {exc}\nreport: {exc.report_path}"
        raise _fail(message) from exc
    return report, path


def _show_most_active_player(settings: Settings, out: Console) -> None:
    """Print the online features of the player with the most play in the last 30 days.

    Shows that the daily run materialized the online store; prints nothing when no player has
    features yet.

    Args:
        settings: Where the warehouse and the feature store are.
        out: The console to print on.
    """
    import duckdb

    from feature_repo import store as feature_store
    from feature_repo.feature_services import USER_PROFILE

    store = feature_store.open_store(settings)
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        row = con.execute(
            "select user_id from user_features order by play_seconds_30d desc limit 1"
        ).fetchone()
    if row:
        features = feature_store.online_features(store, USER_PROFILE, [{"user_id": row[0]}])
        out.rule(f"online features of the most active player, {row[0]}")
        out.print({k: v[0] for k, v in features.items()})


def _closed_loop_demo(
    data_dir: Path | None,
    players: int,
    slots: int,
    days: int,
    seed: int,
    history_days: int,
    lobby_players: int,
) -> None:
    """`slotrec demo --closed-loop`: history, then `days` days against the running service."""
    from slotrec.closed_loop import (
        MAX_CLOSED_LOOP_DAYS,
        ClosedLoopConfig,
        print_closed_loop,
        run_closed_loop,
    )
    from slotrec.simulator.lobby import LobbyPlan

    if days > MAX_CLOSED_LOOP_DAYS:
        raise typer.BadParameter(
            f"at most {MAX_CLOSED_LOOP_DAYS} closed-loop days (the service refuses events "
            f"over 7 days old), got {days}",
            param_hint="--days",
        )
    config = ClosedLoopConfig(
        players=players,
        slots=slots,
        history_days=history_days,
        days=days,
        seed=seed,
        lobby=LobbyPlan(players_per_day=lobby_players, seed=seed),
    )
    root = _settings(data_dir).data_dir
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per lobby call otherwise
    try:
        result = run_closed_loop(root, config, log=lambda line: log.info(line))
    except ValueError as exc:  # a bad setting or --data-dir, named
        raise _fail(f"closed-loop demo: {exc}", 2) from exc
    except RuntimeError as exc:
        raise _fail(f"closed-loop demo failed: {exc}") from exc
    print_closed_loop(result, Console())


class _progress:
    """A rich progress bar that simulator-style callbacks `(done, total, message)` can drive."""

    def __init__(self, title: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._progress.add_task(title, total=None)

    def __enter__(self) -> _progress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        self._progress.update(self._task, completed=done, total=total, description=message)


def _register_benchmarks() -> None:
    """`slotrec bench ...`: the benchmark commands register themselves in `benchmarks.cli`."""
    from benchmarks.cli import bench_app

    app.add_typer(bench_app, name="bench")


_register_benchmarks()
