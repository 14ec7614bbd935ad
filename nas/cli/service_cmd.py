"""``nas serve`` (the REST API and dashboard) and ``nas worker`` (runs queued jobs)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from nas.cli.options import positive_float


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the REST API and the dashboard",
                                description="Serve the REST API under /v1 and the dashboard at /. "
                                            "Store: $NAS_DATABASE_URL (default SQLite). Auth: $NAS_API_KEY.")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--no-worker", dest="worker", action="store_false",
                       help="do not run jobs in this process (run `nas worker` separately)")
    serve.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="where the in-process worker evaluates candidates (default local)")
    serve.set_defaults(run=run_serve)

    worker = commands.add_parser("worker", help="run queued jobs from the store",
                                 description="Claim queued jobs (and jobs abandoned by a dead worker) from "
                                             "$NAS_DATABASE_URL and run them on Ray ($RAY_ADDRESS or a local Ray).")
    worker.add_argument("--executor", choices=["local", "ray"], default="ray", help="default ray")
    worker.add_argument("--poll", type=positive_float, default=0.5, metavar="SECONDS", help="idle polling period")
    worker.add_argument("--stale-after", type=positive_float, default=30.0, metavar="SECONDS",
                        help="take over a running job whose worker has been silent this long (default 30)")
    worker.add_argument("--exit-when-idle", type=positive_float, metavar="SECONDS",
                        help="exit after this long without a job (default: run forever)")
    worker.set_defaults(run=run_worker)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app, start_thread_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(start_worker=start_thread_worker(args.executor) if args.worker else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from api.store import TrialStore
    from api.worker import Worker
    from nas.executors import make_executor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    executor = make_executor(args.executor)
    worker = Worker(TrialStore(), executor, poll_seconds=args.poll, stale_after=args.stale_after)
    try:
        worker.run_forever(stop_after_idle=args.exit_when_idle)
    finally:
        executor.shutdown()
    return 0
