"""Concurrent writers into one job: N processes add trials in batches through TrialStore.add_trials.

Prints, per backend: rows sent, rows counted in the table (must equal the total asked for), distinct
arch keys, errors seen by the clients (must be 0), wall time and rows/s. PostgreSQL runs in a
database created for the run and dropped afterwards ($NAS_TEST_POSTGRES_URL names the server).

Run: python benchmarks/service_concurrency.py [--backend sqlite|postgres|both] [--processes 8]
     [--trials 10000] [--batch 250]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from service_common import scratch_postgres, synthetic_trials
from sqlalchemy import text

from api.store import TrialStore


def writer(url: str, job_id: str, index: int, count: int, batch: int,
           start_at: float) -> tuple[int, list[str], float, float]:
    """One client process: (rows sent, errors, clock time it began writing, clock time it finished)."""
    store = TrialStore(url, migrate=False)
    rows = synthetic_trials(count, seed=index, prefix=f"p{index}-")
    errors: list[str] = []
    sent = 0
    time.sleep(max(0.0, start_at - time.time()))  # every process starts writing together
    began = time.time()
    for start in range(0, count, batch):
        chunk = rows[start:start + batch]
        try:
            store.add_trials(job_id, chunk, generation=index)
            sent += len(chunk)
        except Exception as exc:  # a client-visible error: counted and printed, the run goes on
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    finished = time.time()
    store.close()
    return sent, errors, began, finished


def run(url: str, processes: int, trials: int, batch: int) -> bool:
    store = TrialStore(url)
    job, _ = store.create_job({"budgets": ["600M-MACs"], "benchmark": "service_concurrency"})
    shares = [trials // processes + (i < trials % processes) for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        start_at = time.time() + 3.0 + 0.5 * processes  # time for every child to start and import
        pending = [pool.apply_async(writer, (url, job.id, i, share, batch, start_at)) for i, share in enumerate(shares)]
        results = [p.get(timeout=600) for p in pending]
    wall = max(finished for *_, finished in results) - start_at
    late = sum(began > start_at + 0.05 for _, _, began, _ in results)
    counted = store.count_trials(job.id)
    with store.engine.connect() as connection:
        distinct = connection.scalar(text("SELECT COUNT(DISTINCT arch_key) FROM trials WHERE job_id = :j"),
                                     {"j": job.id})
    errors = [e for _, errs, _, _ in results for e in errs]
    sent = sum(s for s, *_ in results)
    print(f"{store.engine.dialect.name:>10}: {processes} processes x ~{trials // processes} rows in batches of "
          f"{batch}: sent {sent}, counted {counted}, distinct {distinct}, client errors {len(errors)}, "
          f"wall {wall:.2f} s ({counted / wall:,.0f} rows/s), processes starting late {late}")
    for error in errors[:5]:
        print(f"            error: {error}")
    store.close()
    return counted == trials == distinct and not errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    ok = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            ok &= run(f"sqlite:///{Path(folder) / 'bench.db'}", args.processes, args.trials, args.batch)
    if args.backend in ("postgres", "both"):
        with scratch_postgres("nas_bench_concurrency") as url:
            ok &= run(url, args.processes, args.trials, args.batch)
    print("OK" if ok else "FAILED: rows lost, doubled or errors seen")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
