"""Read load on the REST API: 20 concurrent clients hammer GET /v1/jobs/{id}/pareto of a job holding
100,000 trials in PostgreSQL, served by uvicorn on loopback (a separate process).

Trials are real: distinct random OFA MobileNetV3 (w1.2) subnets scored by the OFA accuracy predictor
and the exact MAC/parameter counts, so the front has a realistic size. Prints the front size, request
count, errors, p50/p95/p99 latency (ms) and requests/s. Target: p99 < 100 ms.

Run: python benchmarks/service_load.py [--trials 100000] [--clients 20] [--seconds 10] [--workers 1]
     [--client stdlib|httpx]
     (server: $NAS_TEST_POSTGRES_URL; a database is created for the run and dropped afterwards)
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from service_common import scratch_postgres

from api.store import TrialRow, TrialStore
from api.tables import JobStatus
from nas.jobs import JobSpec, build_problem
from searchspaces.base import arch_keys

REPO = Path(__file__).resolve().parents[1]
API_KEY = "bench-key"
MAX_REQUESTS_PER_CLIENT = 20_000


def populate(url: str, count: int, seed: int = 0) -> str:
    """A finished job with ``count`` distinct, predictor-scored trials; its id."""
    spec = JobSpec(budgets=("600M-MACs",))
    problem = build_problem(spec)
    genes = problem.space.sample(int(count * 1.05) + 100, np.random.default_rng(seed))
    keys = arch_keys(problem.space.name, genes)
    first = np.sort(np.unique(keys, return_index=True)[1])[:count]
    genes, keys = genes[first], [keys[i] for i in first]
    metrics = {name: values.tolist() for name, values in problem.evaluate(genes).items()}
    archs = problem.space.to_json_batch(genes)
    store = TrialStore(url)
    job, _ = store.create_job(spec.to_json())
    store.claim_job("benchmark")
    for start in range(0, count, 5000):
        rows = [TrialRow(keys[i], archs[i], {name: metrics[name][i] for name in metrics})
                for i in range(start, min(start + 5000, count))]
        store.add_trials(job.id, rows, generation=start // 2048)
    store.finish_job(job.id, "benchmark", JobStatus.succeeded)
    assert store.count_trials(job.id) == count
    store.close()
    return job.id


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children, e.g. uvicorn's workers (Linux /proc)."""
    total, parents = 0.0, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        ticks = int(fields[11]) + int(fields[12])
        parents[int(stat.parent.name)] = (int(fields[1]), ticks / os.sysconf("SC_CLK_TCK"))
    family = {pid}
    for _ in range(3):  # server, its workers, their children
        family |= {child for child, (parent, _) in parents.items() if parent in family}
    for member in family:
        total += parents.get(member, (0, 0.0))[1]
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "NAS_DATABASE_URL": url, "NAS_API_KEY": API_KEY}
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)]
    server = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("uvicorn did not start within 60 s")


def hammer(port: int, path: str, clients: int, seconds: float, client: str) -> tuple[list[float], int, float]:
    """Closed loop: each client sends its next request when the last one answers, over one keep-alive
    connection (stdlib http.client, cheap on CPU, or httpx). (latencies in s, errors, wall seconds)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    deadline = 0.0
    headers = {"X-API-Key": API_KEY}

    def stdlib_get(connection: http.client.HTTPConnection) -> bool:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status == 200

    def run(index: int) -> None:
        if client == "httpx":
            session = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30)
            get = lambda: session.get(path).status_code == 200  # noqa: E731
        else:
            session = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            get = lambda: stdlib_get(session)  # noqa: E731
        start_gate.wait()
        while time.perf_counter() < deadline and len(latencies[index]) < MAX_REQUESTS_PER_CLIENT:
            began = time.perf_counter()
            try:
                ok = get()
            except (OSError, httpx.HTTPError, http.client.HTTPException):
                ok = False
            latencies[index].append(time.perf_counter() - began)
            errors[index] += not ok
        session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    return [x for per_client in latencies for x in per_client], sum(errors), time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--client", choices=["stdlib", "httpx"], default="stdlib",
                        help="HTTP client of the load threads (default stdlib: its own CPU cost is ~0.4 ms a "
                             "request against ~2-5 ms for httpx, which matters when clients share the server's CPUs)")
    args = parser.parse_args()
    with scratch_postgres("nas_bench_load") as url:
        began = time.perf_counter()
        job_id = populate(url, args.trials)
        print(f"stored {args.trials} trials in {time.perf_counter() - began:.1f} s")
        port = free_port()
        server = serve(url, port, args.workers)
        try:
            path = f"/v1/jobs/{job_id}/pareto"
            first = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": API_KEY}, timeout=60)
            first.raise_for_status()
            print(f"front: {len(first.json()['items'])} trials of {args.trials} "
                  f"(first request {first.elapsed.total_seconds() * 1000:.0f} ms)")
            server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
            latencies, errors, wall = hammer(port, path, args.clients, args.seconds, args.client)
            server_cpu, client_cpu = cpu_seconds(server.pid) - server_cpu, time.process_time() - client_cpu
        finally:
            server.terminate()
            server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"{args.clients} {args.client} clients, {wall:.1f} s: {len(ms)} requests, {errors} errors, "
          f"{len(ms) / wall:.0f} req/s; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
          f"max {ms.max():.1f} ms")
    print(f"CPU per request: server {server_cpu * 1000 / len(ms):.2f} ms ({server_cpu / wall * 100:.0f} % of a core), "
          f"{args.client} clients {client_cpu * 1000 / len(ms):.2f} ms; machine: {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    met = p99 < 100 and errors == 0
    print("target p99 < 100 ms:", "met" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
