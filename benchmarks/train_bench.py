"""`slotrec bench train`: training throughput, a full daily retrain at scale, and the index.

Three measurements, one JSON (`benchmarks/results/train.json`):

1. **Throughput** (`samples_per_second`): NeuMF with the daily retrain's settings
   (`slotrec_train_config`, batch sized by `fit_batch_size`) on the training pairs of a
   100,000-player × 3,000-slot simulated world. A sample is one (user, slot, label) row,
   positive or sampled negative; the clock covers all an epoch does (drawing negatives,
   shuffling, every optimiser step) but not validation. The first epoch is reported, not counted.
2. **Full retrain** (`full_retrain_seconds`, `full_retrain_peak_rss_mb`): `training.pipeline.
   retrain` on 1,000,000 players × 5,000 slots (~20M plays), which is everything the daily
   retrain does once its data is loaded: popularity, item-kNN and EASE baselines; NeuMF with
   validation each epoch and early stopping; evaluation of all four models (full ranking,
   sampled negatives, per segment) on a fixed sample of held-out users (`EVAL_MAX_USERS`);
   slot vectors and the metadata model; the FAISS index; the bundle in the BentoML store; the
   gate and promotion. The plays come straight from the simulator's hidden truth
   (`benchmarks.simulated_plays`), not through dbt, whose cost `slotrec bench data` measures.
   It runs in a child process so that its peak RSS is its own (data included).
3. **Index** (`index`): recall@10 of the HNSW index against exact search, and query latency,
   at the settings the pipeline and the service use (`training.index`), on learned slot
   vectors: the full retrain's 5,000 and a 50,000-slot model trained here for the purpose.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
import torch

from benchmarks.simulated_plays import PlaysConfig, simulated_plays
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import get_settings
from training.bundle import Bundle
from training.index import (
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    TARGET_RECALL,
    SlotIndex,
    index_kind_for,
    measure_recall,
)
from training.model_store import model_store
from training.models import NCFModel, NeuMF
from training.pipeline import EVAL_MAX_USERS, fit_batch_size, retrain, slotrec_train_config
from training.promotion import PromotionRegistry
from training.trainer import TrainConfig, train_model

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class TrainBenchConfig:
    """What `slotrec bench train` measures.

    Attributes:
        throughput_world: The world whose training pairs the throughput is measured on.
        throughput_epochs: Epochs of the throughput run; the first is a warm-up.
        retrain_world: The world of the full retrain (None skips it).
        retrain_epochs: Upper bound on the retrain's epochs (early stopping may end it sooner).
        index_world: The world of the large-catalogue index check (None skips it).
        index_epochs: Epochs of that model.
        index_queries: User query vectors per recall measurement.
        work_dir: Scratch folder for the retrain's model store (default: a temporary one).
    """

    throughput_world: PlaysConfig = dataclasses.field(
        default_factory=lambda: PlaysConfig(players=100_000, slots=3_000)
    )
    throughput_epochs: int = 3
    retrain_world: PlaysConfig | None = dataclasses.field(default_factory=PlaysConfig)
    retrain_epochs: int = 3
    index_world: PlaysConfig | None = dataclasses.field(
        default_factory=lambda: PlaysConfig(players=100_000, slots=50_000)
    )
    index_epochs: int = 1
    index_queries: int = 2_000
    work_dir: Path | None = None


def measure_throughput(world: PlaysConfig, epochs: int, log: Log) -> dict[str, Any]:
    """Train NeuMF on a simulated world's training pairs and report samples per second.

    Args:
        world: The simulated world.
        epochs: Epochs to run; the first is a warm-up.
        log: Where progress lines go.

    Returns:
        `samples_per_second` (epochs after the first), per-epoch rates, sizes, settings and
        the load average before the run (other processes skew the number).
    """
    train = simulated_plays(world).split.train
    config = fit_batch_size(slotrec_train_config(epochs=epochs, patience=0), len(train))
    load_before = os.getloadavg()
    result = train_model("neumf", train, None, config, n_users=world.players, n_items=world.slots)
    timed = result.history[1:] if len(result.history) > 1 else result.history
    samples = sum(s.samples for s in timed)
    seconds = sum(s.seconds for s in timed)
    rate = round(samples / seconds)
    log(f"throughput: {rate:,} samples/s on {len(train):,} training pairs")
    return {
        "samples_per_second": rate,
        "epoch_samples_per_second": [round(s.samples_per_second) for s in result.history],
        "samples_per_epoch": result.history[0].samples,
        "players": world.players,
        "slots": world.slots,
        "train_pairs": len(train),
        "epochs": epochs,
        "config": _config_summary(config),
        "load_average_before": [round(x, 2) for x in load_before],
    }


def _config_summary(config: TrainConfig) -> dict[str, Any]:
    keys = ("batch_size", "negatives", "gmf_dim", "mlp_dim", "layers", "embedding_optimizer")
    summary = {key: config.to_dict()[key] for key in keys}
    summary["threads"] = config.num_threads or torch.get_num_threads()
    return summary


def _retrain_child(world: PlaysConfig, epochs: int, work_dir: str, out: Any) -> None:
    """The full retrain, in its own process: draw the data, then `retrain` it, timed."""
    import bentoml

    settings = get_settings(data_dir=Path(work_dir))
    store = model_store(settings)  # the scratch directory's, never the operator's
    tick = time.perf_counter()
    data = simulated_plays(world)
    data_seconds = time.perf_counter() - tick
    load_before = os.getloadavg()
    tick = time.perf_counter()
    config = slotrec_train_config(epochs=epochs, max_seconds=settings.train_budget_minutes * 60)
    outcome = retrain(data, PromotionRegistry(settings.layout.promoted_path), store, config)
    seconds = time.perf_counter() - tick
    metrics = outcome.bundle.metrics
    out.put(
        {
            "seconds": round(seconds, 1),
            "data_seconds": round(data_seconds, 1),
            "bundle": outcome.bundle.version,
            "bundle_path": str(
                bentoml.models.get(str(outcome.bundle.version), _model_store=store).path
            ),
            "promoted": outcome.promoted,
            "gate": outcome.decision.reason,
            "phases_seconds": {
                **metrics["timings_seconds"],
                "bundle_save": round(outcome.bundle_save_seconds, 2),
            },
            "training": metrics["training"],
            "evaluation": metrics["evaluation"],
            "validation_ndcg10": {m: v["ndcg10"] for m, v in metrics["validation"].items()},
            "test_full_ndcg10": {m: v["ndcg10"] for m, v in metrics["test"]["full"].items()},
            "window": data.window,
            "config": _config_summary(config)
            | {"epochs": epochs, "max_seconds": config.max_seconds},
            "load_average_before": [round(x, 2) for x in load_before],
        }
    )


def measure_full_retrain(world: PlaysConfig, epochs: int, work_dir: Path) -> dict[str, Any]:
    """Run `_retrain_child` in a fresh process; its result plus its peak RSS.

    Args:
        world: The simulated world to retrain on.
        epochs: Upper bound on epochs.
        work_dir: Data folder of the child's model store and promotion record.

    Returns:
        The child's report with `peak_rss_mb` added (the child's own high-water mark, data
        generation included).
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_retrain_child, args=(world, epochs, str(work_dir), queue))
    child.start()
    report = queue.get()  # before join: a full pipe would block the child's exit
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"full retrain process exited with {child.exitcode}")
    # Linux reports ru_maxrss in KiB; the spawn helper processes are far smaller than the child
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return report


def _latency_ms(index: SlotIndex, queries: np.ndarray, k: int = 10) -> dict[str, float]:
    """Per-query latency (one query per call, as the service asks) and batched throughput."""
    single = []
    for query in queries[:500]:
        tick = time.perf_counter()
        index.search(query[None, :], k)
        single.append((time.perf_counter() - tick) * 1000)
    tick = time.perf_counter()
    index.search(queries, k)
    batch = (time.perf_counter() - tick) * 1000 / len(queries)
    return {
        "p50_ms": round(float(np.percentile(single, 50)), 4),
        "p99_ms": round(float(np.percentile(single, 99)), 4),
        "batched_ms_per_query": round(batch, 4),
    }


def measure_index(model: NCFModel, n_queries: int, seed: int = 0) -> dict[str, Any]:
    """recall@10 of HNSW against exact, and latency, on a model's slot and user vectors.

    Queries are user query vectors (retrieval for a player) and slot vectors ("similar
    slots"), as the service issues them.

    Args:
        model: A trained NeuMF (its GMF item vectors are what the pipeline indexes).
        n_queries: User queries (and slot queries) to draw.
        seed: Seed of the query sample.

    Returns:
        Sizes, the settings, recall@10 per query kind at the chosen `efSearch` and a sweep of
        it, the kind the pipeline picks for this size, and latencies of both indexes.
    """
    assert isinstance(model, NeuMF)
    with torch.no_grad():
        vectors = model.item_embeddings().numpy()  # [n_slots, gmf_dim]
        rng = np.random.default_rng(seed)
        # two disjoint player samples: one calibrates the index, the other measures it
        drawn = rng.choice(model.n_users, size=min(2 * n_queries, model.n_users), replace=False)
        calibration = model.user_embeddings(torch.as_tensor(drawn[1::2])).numpy()
        user_queries = model.user_embeddings(torch.as_tensor(drawn[::2])).numpy()  # [q, dim]
    slot_queries = vectors[rng.choice(len(vectors), size=min(n_queries, len(vectors)))]
    ids = [str(i) for i in range(len(vectors))]
    exact = SlotIndex.build(vectors, ids, kind="exact")
    # what the pipeline builds: HNSW from APPROXIMATE_FROM_SLOTS on, calibrated to the target
    tick = time.perf_counter()
    pipeline = SlotIndex.build(
        vectors, ids, kind=index_kind_for(len(vectors)), calibration_queries=calibration
    )
    build_seconds = time.perf_counter() - tick
    # and plain HNSW at the fixed settings, for the efSearch sweep
    hnsw = SlotIndex.build(vectors, ids, kind="hnsw", target_recall=None)
    graph = cast(faiss.IndexHNSWFlat, hnsw.index).hnsw
    sweep = {}
    for ef in (32, 64, HNSW_EF_SEARCH, 256, 512, 1024):
        graph.efSearch = ef
        sweep[str(ef)] = round(measure_recall(hnsw, exact, user_queries), 4)
    return {
        "slots": len(vectors),
        "dim": int(vectors.shape[1]),
        "pipeline_kind": pipeline.kind,
        "calibration": pipeline.calibration,
        "target_recall10": TARGET_RECALL,
        "hnsw": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH},
        "recall10_user_queries": round(measure_recall(pipeline, exact, user_queries), 4),
        "recall10_slot_queries": round(measure_recall(pipeline, exact, slot_queries), 4),
        "hnsw_recall10_user_queries_by_ef_search": sweep,
        "queries": len(user_queries),
        "pipeline_build_seconds": round(build_seconds, 2),
        "latency_exact": _latency_ms(exact, user_queries),
        "latency_pipeline": _latency_ms(pipeline, user_queries),
    }


def _index_model(world: PlaysConfig, epochs: int) -> NCFModel:
    """A NeuMF trained briefly on a large catalogue, for realistic 50k-slot vectors."""
    train = simulated_plays(world).split.train
    config = fit_batch_size(slotrec_train_config(epochs=epochs, patience=0), len(train))
    return train_model(
        "neumf", train, None, config, n_users=world.players, n_items=world.slots
    ).model


def run_train_bench(
    out: Path | str, config: TrainBenchConfig | None = None, log: Log = print
) -> dict[str, Any]:
    """Measure throughput, the full retrain and the index; write the JSON to `out`.

    Args:
        out: Where the JSON goes (written atomically).
        config: What to measure (default: the issue's sizes).
        log: Where progress lines go.

    Returns:
        The payload written: `samples_per_second`, `full_retrain_seconds`,
        `full_retrain_peak_rss_mb`, then `throughput`, `full_retrain` and `index` in detail.
    """
    config = config or TrainBenchConfig()
    started = time.perf_counter()
    payload: dict[str, Any] = {}
    throughput = measure_throughput(config.throughput_world, config.throughput_epochs, log)
    payload["samples_per_second"] = throughput["samples_per_second"]
    indexes: dict[str, Any] = {}
    if config.retrain_world is not None:
        world = config.retrain_world
        log(f"full retrain: {world.players:,} players x {world.slots:,} slots (child process)")
        with tempfile.TemporaryDirectory(dir=config.work_dir) as work_dir:
            retrained = measure_full_retrain(world, config.retrain_epochs, Path(work_dir))
            bundle = Bundle.read(Path(retrained.pop("bundle_path")))
            model = NCFModel.from_checkpoint(bundle.model_checkpoint)
            retrained["bundle_index_kind"] = bundle.index.kind
            indexes[f"slots_{world.slots}"] = measure_index(model, config.index_queries)
            del bundle, model
        log(f"full retrain: {retrained['seconds']:.0f}s, peak RSS {retrained['peak_rss_mb']} MB")
        payload["full_retrain_seconds"] = retrained["seconds"]
        payload["full_retrain_peak_rss_mb"] = retrained["peak_rss_mb"]
        payload["full_retrain"] = retrained
    if config.index_world is not None:
        log(f"index: training a {config.index_world.slots:,}-slot model for its vectors")
        model = _index_model(config.index_world, config.index_epochs)
        indexes[f"slots_{config.index_world.slots}"] = measure_index(model, config.index_queries)
    payload["throughput"] = throughput
    payload["index"] = indexes
    for name, result in indexes.items():
        log(
            f"index {name}: {result['pipeline_kind']}, recall@10 "
            f"{result['recall10_user_queries']} ({result['calibration']})"
        )
    payload["meta"] = {
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "eval_max_users": EVAL_MAX_USERS,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    write_json_atomic(Path(out), payload)
    return payload
