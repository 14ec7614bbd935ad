"""Measured (subnet, accuracy) pairs for the accuracy predictors: random subnets of a trained
supernet, each evaluated with inherited weights in parallel Ray actors and stored as the trials of a
``collect`` job as they finish, which ``nas predictor fit --data job:ID`` reads.

A collection holds the job's lease like a search worker does: a cancel request (``POST
/v1/jobs/{id}/cancel``) stops it after the subnets in flight, and a failure is recorded on the job.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import ray
import torch
from ray.util import ActorPool

from api.store import TrialRow, TrialStore
from api.tables import JobStatus
from api.worker import new_worker_id
from nas.artifacts import sha256_of
from nas.executors.ray_executor import check_cpus, init_ray
from nas.supernet import CALIBRATION_IMAGES
from searchspaces.base import SearchSpace, arch_keys

PREDICTOR_NAME = "supernet"  # what the trials' `predictor` column records: measured, not predicted


@dataclass
class CollectRequest:
    supernet: str  # a checkpoint of nas train-supernet (it records the space and input normalization)
    data: str  # the dataset (ImageFolder folder or tar), readable at this path on every Ray node
    samples: int
    workers: int = 2
    seed: int = 0
    calibration_images: int = CALIBRATION_IMAGES
    test_images: int | None = None  # None: the whole test split


@dataclass
class Collected:
    job_id: str
    evaluated: int
    status: JobStatus


class _SubnetEvaluator:
    """One Ray actor: the supernet and the dataset, loaded once, evaluating one subnet per call."""

    def __init__(self, request: dict, threads: int) -> None:
        from nas.supernet.checkpoint import load_supernet
        from nas.supernet.evaluate import default_device, load_dataset_of, trained_normalize

        torch.set_num_threads(threads)
        self.request = CollectRequest(**request)
        self.supernet, checkpoint = load_supernet(self.request.supernet)
        self.supernet.to(default_device())  # the GPU (share) Ray gave this actor, if any
        self.normalize = trained_normalize(checkpoint, self.request.supernet)
        self.data = load_dataset_of(checkpoint, self.request.data)

    def evaluate(self, index: int, genes: np.ndarray) -> tuple[int, float]:
        from nas.supernet.evaluate import evaluate_subnet

        accuracy = evaluate_subnet(self.supernet, genes, self.data.train, self.data.test, self.normalize,
                                   self.request.calibration_images, self.request.test_images)
        return index, accuracy


def gpu_share(workers: int, gpus: float) -> float:
    """The fraction of a GPU each of ``workers`` actors asks for, so that all of them fit on the
    cluster's ``gpus`` (a fraction cannot span two GPUs; Ray counts in steps of 0.0001); 0 without GPUs."""
    if gpus < 1:
        return 0.0
    per_gpu = math.ceil(workers / int(gpus))
    return math.floor(10_000 / per_gpu) / 10_000


def distinct_samples(space: SearchSpace, n: int, seed: int) -> np.ndarray:
    """``n`` distinct random archs (as gene rows), the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    rows: dict[str, np.ndarray] = {}
    while len(rows) < n:
        batch = space.canonical(space.sample(n, rng))
        for key, genes in zip(arch_keys(space.name, batch), batch):
            if len(rows) < n:
                rows.setdefault(key, genes)
    return np.stack(list(rows.values()))


def collect(request: CollectRequest, store: TrialStore,
            on_result: Callable[[int, float], None] | None = None) -> Collected:
    """Evaluate ``request.samples`` random subnets and store each as a trial; ``on_result(done, accuracy)``."""
    from nas.supernet.checkpoint import load_supernet
    from nas.supernet.evaluate import check_calibration_images, load_dataset_of, trained_normalize

    # refuse a bad checkpoint, dataset or setting here, in one line, rather than from inside an actor
    check_calibration_images(request.calibration_images)
    supernet, checkpoint = load_supernet(request.supernet)
    trained_normalize(checkpoint, request.supernet)
    space = supernet.space
    load_dataset_of(checkpoint, request.data, max_per_class=1)
    genes = distinct_samples(space, request.samples, request.seed)
    macs, params = space.macs(genes), space.params(genes)
    keys, archs = arch_keys(space.name, genes), space.to_json_batch(genes)

    init_ray()
    resources = ray.cluster_resources()
    cpus, share = int(resources.get("CPU", 0)), gpu_share(request.workers, resources.get("GPU", 0))
    if not share:
        check_cpus(request.workers, cpus)
    threads = max(1, (os.cpu_count() or 1) // request.workers)
    worker_id = new_worker_id()
    job = store.start_collection({"space": space.name, **asdict(request),
                                  "supernet_sha256": sha256_of(Path(request.supernet))}, worker_id)
    # an actor on a GPU asks for its share of it only (as Ray Train's workers do), so a GPU node with
    # fewer CPUs than actors cannot leave some of them waiting for ever
    evaluator = ray.remote(num_cpus=0 if share else 1, num_gpus=share)(_SubnetEvaluator)
    actors = [evaluator.remote(asdict(request), threads) for _ in range(request.workers)]
    pool = ActorPool(actors)
    for index, row in enumerate(genes):
        pool.submit(lambda actor, item: actor.evaluate.remote(*item), (index, row))
    start, best, done = time.monotonic(), 0.0, 0
    status = JobStatus.succeeded
    try:
        while pool.has_next():
            index, accuracy = pool.get_next_unordered()
            trial = TrialRow(keys[index], archs[index], {
                "accuracy": accuracy, "macs": float(macs[index]), "params": float(params[index])})
            progress = {"evaluated": done + 1, "best_accuracy": max(best, accuracy),
                        "search_seconds": time.monotonic() - start}
            if not store.record_generation(job.id, worker_id, [trial], 0, PREDICTOR_NAME, progress):
                status = JobStatus.cancelled
                break
            done, best = done + 1, max(best, accuracy)
            if on_result:
                on_result(done, accuracy)
    except BaseException as exc:
        store.finish_job(job.id, worker_id, JobStatus.failed, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for actor in actors:
            ray.kill(actor)
    store.finish_job(job.id, worker_id, status)
    return Collected(job.id, done, status)
