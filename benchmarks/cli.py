"""`slotrec bench ...`: the benchmark commands, each writing JSON under benchmarks/results/.

Each command parses its options and delegates to its benchmark module; `slotrec.cli` adds this
group to the `slotrec` command line. A benchmark measures; it asserts nothing (the tests do).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

bench_app = typer.Typer(help="Benchmarks that write JSON results under benchmarks/results/.")
console = Console(stderr=True)
log = logging.getLogger("slotrec")


@bench_app.command("data")
def bench_data(
    players: Annotated[int, typer.Option(min=1)] = 100_000,
    slots: Annotated[int, typer.Option(min=1)] = 3_000,
    days: Annotated[int, typer.Option(min=1)] = 30,
    work_dir: Annotated[
        Path | None, typer.Option(help="Scratch folder (default: a temporary folder).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path("benchmarks/results/data.json"),
    online_reads: Annotated[int, typer.Option(min=10)] = 2_000,
) -> None:
    """Simulate a 30-day world, run transform + features, time it, write data.json."""
    from benchmarks.data_bench import DataBenchConfig, run_data_bench

    config = DataBenchConfig(
        players=players, slots=slots, days=days, online_reads=online_reads, work_dir=work_dir
    )
    result = run_data_bench(config, out, log=lambda msg: log.info(msg))
    console.print_json(data=result)


@bench_app.command("quality")
def bench_quality(
    ml100k: Annotated[
        Path, typer.Option(help="MovieLens-100K u.data (or its folder); never copied.")
    ] = Path("../shared/data/ml-100k/u.data"),
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path(
        "benchmarks/results/quality.json"
    ),
    section: Annotated[
        str,
        typer.Option(
            help="Run only 'ml100k' or 'simulated'; the other section is kept from --out."
        ),
    ] = "all",
) -> None:
    """NeuMF vs popularity, item-kNN and EASE on MovieLens-100K and on a simulated world."""
    from benchmarks.quality_bench import SECTIONS, run_quality_bench

    if section != "all" and section not in SECTIONS:
        raise typer.BadParameter(
            f"must be 'all' or one of {', '.join(SECTIONS)}, got {section!r}",
            param_hint="--section",
        )
    if section != "simulated" and not ml100k.exists():
        raise typer.BadParameter(f"{ml100k} does not exist", param_hint="--ml100k")
    sections = SECTIONS if section == "all" else (section,)
    run_quality_bench(ml100k, out, log=lambda msg: log.info(msg), sections=sections)
    console.print(f"results: {out}")


@bench_app.command("train")
def bench_train(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path("benchmarks/results/train.json"),
    players: Annotated[int, typer.Option(min=100, help="Throughput world: players.")] = 100_000,
    slots: Annotated[int, typer.Option(min=100, help="Throughput world: slots.")] = 3_000,
    retrain_players: Annotated[
        int, typer.Option(min=0, help="Full retrain: players (0 skips it).")
    ] = 1_000_000,
    retrain_slots: Annotated[int, typer.Option(min=100, help="Full retrain: slots.")] = 5_000,
    retrain_epochs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Full retrain: max epochs (SLOTREC_TRAIN_BUDGET_MINUTES applies too).",
        ),
    ] = 60,
    index_slots: Annotated[
        int, typer.Option(min=0, help="Large-catalogue index check: slots (0 skips it).")
    ] = 50_000,
    work_dir: Annotated[
        Path | None, typer.Option(help="Scratch folder (default: a temporary folder).")
    ] = None,
) -> None:
    """Training throughput, a full daily retrain at scale, and HNSW recall; write train.json."""
    from benchmarks.simulated_plays import PlaysConfig
    from benchmarks.train_bench import TrainBenchConfig, run_train_bench

    config = TrainBenchConfig(
        throughput_world=PlaysConfig(players=players, slots=slots),
        retrain_world=(
            PlaysConfig(players=retrain_players, slots=retrain_slots) if retrain_players else None
        ),
        retrain_epochs=retrain_epochs,
        index_world=(
            PlaysConfig(players=max(players, index_slots), slots=index_slots)
            if index_slots
            else None
        ),
        work_dir=work_dir,
    )
    result = run_train_bench(out, config, log=lambda msg: log.info(msg))
    console.print_json(data={k: v for k, v in result.items() if not isinstance(v, dict)})
    console.print(f"results: {out}")


@bench_app.command("realtime")
def bench_realtime(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path(
        "benchmarks/results/realtime.json"
    ),
    players: Annotated[int, typer.Option(min=1, help="Players in the live state.")] = 10_000,
    calls: Annotated[int, typer.Option(min=10, help="Timed calls per operation.")] = 500,
) -> None:
    """Live-state latency: record(), state(), states(10) and freshness on Feast SQLite."""
    from benchmarks.realtime_bench import run_realtime_bench

    result = run_realtime_bench(out, players=players, calls=calls, log=lambda m: log.info(m))
    console.print_json(data=result)


@bench_app.command("risk")
def bench_risk(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path(
        "benchmarks/results/risk_detection.json"
    ),
    players: Annotated[int, typer.Option(min=100, help="Simulated players.")] = 5_000,
    slots: Annotated[int, typer.Option(min=10, help="Simulated slots.")] = 200,
    days: Annotated[int, typer.Option(min=10, help="Simulated days.")] = 14,
    seed: Annotated[int, typer.Option(min=0, help="World seed.")] = 11,
) -> None:
    """Recall and precision of the player_risk mart against the simulator's at-risk flag."""
    from benchmarks.risk_bench import RiskBenchConfig, run_risk_bench

    config = RiskBenchConfig(players=players, slots=slots, days=days, seed=seed)
    result = run_risk_bench(config, out, log=lambda msg: log.info(msg))
    console.print_json(data={k: result[k] for k in ("recall", "precision", "at_risk_players")})


@bench_app.command("serve")
def bench_serve(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path("benchmarks/results/serve.json"),
    work_dir: Annotated[
        Path | None, typer.Option(help="World + bundle folder; reused when it has a bundle.")
    ] = None,
    seconds: Annotated[
        int, typer.Option(min=1, help="Seconds per population, endpoint and concurrency.")
    ] = 15,
    workers: Annotated[
        int, typer.Option(min=0, help="Service worker processes (0: one per CPU core).")
    ] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs cap.")] = 4,
    prepare_only: Annotated[
        bool, typer.Option(help="Build the world and bundle, do not serve.")
    ] = False,
) -> None:
    """Serve a 100k-player x 3k-slot bundle with `bentoml serve`, load it, write serve.json."""
    from benchmarks.serve_bench import ServeBenchConfig, prepare_world, run_serve_bench
    from benchmarks.wrk_load import wrk_available
    from slotrec.service_process import workers_for

    if not prepare_only and not wrk_available():
        console.print(
            "[red]error:[/red] bench serve loads the service with wrk (apt-get install wrk)"
        )
        raise typer.Exit(2)
    config = ServeBenchConfig(
        work_dir=work_dir,
        seconds=seconds,
        workers=workers_for(workers),
        epochs=epochs,
    )
    if prepare_only:
        settings = prepare_world(config, log=lambda msg: log.info(msg))
        console.print(f"world and bundle ready in {settings.data_dir}")
        return
    result = run_serve_bench(config, out, log=lambda msg: log.info(msg))
    console.print_json(data=result)
    console.print(f"results: {out}")


@bench_app.command("search")
def bench_search(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path(
        "benchmarks/results/search.json"
    ),
) -> None:
    """FAISS exact search against numpy scoring per catalogue size; write search.json."""
    from benchmarks.search_bench import run_search_bench

    result = run_search_bench(out, log=lambda msg: log.info(msg))
    console.print(f"faster: {', '.join(result['faster_everywhere'])}; results: {out}")


@bench_app.command("soak")
def bench_soak(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path("benchmarks/results/soak.json"),
    work_dir: Annotated[
        Path | None,
        typer.Option(help="World + bundle folder (as `bench serve`); reused when it has a bundle."),
    ] = None,
    seconds: Annotated[
        int, typer.Option(min=30, help="Soak duration; the fault schedule scales with it.")
    ] = 600,
    measure_seconds: Annotated[
        int, typer.Option(min=3, help="Seconds of the closed-loop maximum-throughput measurement.")
    ] = 20,
    load_share: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="Arrival rate as a share of the maximum.")
    ] = 0.7,
    workers: Annotated[int, typer.Option(min=1, help="Service worker processes.")] = 1,
) -> None:
    """Soak a served bundle at 70% of its maximum throughput with faults; write soak.json."""
    from benchmarks.soak_bench import SoakConfig, run_soak_bench

    config = SoakConfig(
        work_dir=work_dir,
        seconds=seconds,
        measure_seconds=measure_seconds,
        load_share=load_share,
        workers=workers,
    )
    result = run_soak_bench(config, out, log=lambda msg: log.info(msg))
    console.print_json(
        data={k: result[k] for k in ("load", "totals", "memory", "events", "targets")}
        | {"memory": {k: v for k, v in result["memory"].items() if k != "samples"}}
    )
    console.print(f"results: {out}")
    if not all(result["targets"].values()):
        failed = ", ".join(k for k, v in result["targets"].items() if not v)
        console.print(f"[red]soak targets not met: {failed}[/red]")
        raise typer.Exit(1)
