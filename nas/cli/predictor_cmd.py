"""``nas predictor fit|eval|predict|collect``: accuracy predictors trained on measured (arch, accuracy) rows."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from nas.cli.options import CommandError, positive_int, space_names
from nas.supernet import CALIBRATION_IMAGES
from predictors import FITTED_KINDS

DATA_HELP = ("DyNAS-T CSV, NAS-Bench-201 results CSV, CSV with arch (JSON) and accuracy columns, JSONL of "
             '{"arch": .., "metrics": {"accuracy": ..}}, or job:<ID> for a stored job\'s trials; repeatable')


def add_parser(commands: Any) -> None:
    predictor = commands.add_parser("predictor", help="fit, evaluate and apply accuracy predictors",
                                    description="Accuracy predictors fitted on measured accuracies.")
    actions = predictor.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(predictor))

    fit = actions.add_parser("fit", help="fit a predictor and save it",
                             description="Fit a predictor and save it as JSON: gbdt (xgboost; hyper-parameters by "
                                         "cross-validation, an ensemble for error bars), mlp (pretrained on MACs, "
                                         "params and structure of sampled archs, then fine-tuned) or ofa-finetune "
                                         "(OFA's published predictor fine-tuned; OFA spaces).")
    fit.add_argument("--space", required=True, choices=space_names())
    fit.add_argument("--kind", default="gbdt", choices=FITTED_KINDS, help="predictor kind (default gbdt)")
    fit.add_argument("--data", nargs="+", required=True, metavar="FILE", help=DATA_HELP)
    fit.add_argument("--out", type=Path, required=True, metavar="MODEL", help="predictor file to write (JSON)")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(run=run_fit)

    evaluate = actions.add_parser("eval", help="rank correlation and error of a predictor on measured data",
                                  description="Kendall tau, Spearman rho, RMSE and top-k recall on --data.")
    evaluate.add_argument("--model", type=Path, required=True, metavar="MODEL")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE", help=DATA_HELP)
    evaluate.add_argument("--top-k", type=positive_int, default=10, metavar="K", help="k of top-k recall (10)")
    evaluate.add_argument("--json", type=Path, metavar="OUT", help="write the figures as JSON to OUT")
    evaluate.add_argument("--record", action="store_true",
                          help="also store the figures in the model file (shown by GET /v1/predictors)")
    evaluate.set_defaults(run=run_eval)

    predict = actions.add_parser("predict", help="predict the accuracy of archs",
                                 description="Write one {\"arch\": .., \"prediction\": ..} line per valid input "
                                             "row, in input order (accuracy columns are ignored).")
    predict.add_argument("--model", type=Path, required=True, metavar="MODEL")
    predict.add_argument("--data", nargs="+", required=True, metavar="FILE", help=DATA_HELP)
    predict.add_argument("--out", type=Path, required=True, metavar="PRED.jsonl")
    predict.set_defaults(run=run_predict)

    collect = actions.add_parser(
        "collect", help="measure random subnets of a trained supernet and store them as a job's trials",
        description="Evaluate --samples random subnets with inherited weights (batch norm recalibrated, test "
                    "split accuracy) in parallel Ray workers ($RAY_ADDRESS or a local Ray) and store each as a "
                    "trial of a new job in $NAS_DATABASE_URL as it finishes; fit on them with --data job:<ID>.")
    collect.add_argument("--supernet", type=Path, required=True, metavar="CKPT", help="a nas train-supernet checkpoint")
    collect.add_argument("--data", type=Path, required=True, metavar="DIR|TAR",
                         help="the dataset it was trained on (the same path on every Ray node)")
    collect.add_argument("--samples", type=positive_int, required=True, metavar="N")
    collect.add_argument("--workers", type=positive_int, default=2, metavar="W", help="Ray actors (default 2)")
    collect.add_argument("--seed", type=int, default=0)
    collect.add_argument("--calib-images", type=positive_int, default=CALIBRATION_IMAGES, metavar="N",
                         help=f"training images for batch-norm recalibration (default {CALIBRATION_IMAGES})")
    collect.add_argument("--test-images", type=positive_int, metavar="N",
                         help="test on a fixed random N of the test split (default all)")
    collect.set_defaults(run=run_collect)


def run_fit(args: argparse.Namespace) -> int:
    _check_folder(args.out)
    from predictors import new_fitted_predictor
    from predictors.data import load_training_data
    from searchspaces import get_space

    space = get_space(args.space)
    predictor = new_fitted_predictor(args.kind, space, seed=args.seed)
    data = load_training_data(space, args.data)
    print(data.report(), file=sys.stderr)
    if len(data.genes) == 0:
        raise CommandError(f"no valid {space.name} rows in the data")
    start = time.perf_counter()
    predictor.fit(data.genes, data.accuracy)
    print(f"fitted on {len(data.genes)} archs in {time.perf_counter() - start:.1f} s: {predictor.describe()}",
          file=sys.stderr)
    predictor.save(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    if args.json:
        _check_folder(args.json)
    from predictors.data import load_training_data
    from predictors.evaluation import rank_metrics
    from predictors.files import load_predictor_file

    predictor = load_predictor_file(args.model)
    data = load_training_data(predictor.space, args.data)
    print(data.report(), file=sys.stderr)
    if len(data.genes) < 2:
        raise CommandError("evaluation needs at least two distinct valid archs")
    figures = rank_metrics(predictor.predict(data.genes), data.accuracy, args.top_k)
    for name, value in figures.items():
        print(f"{name:14s} {value:.4f}" if isinstance(value, float) else f"{name:14s} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.record:
        predictor.evaluation.update(figures, evaluated_on=", ".join(map(str, args.data)))
        predictor.save(args.model)
        print(f"recorded the figures in {args.model}", file=sys.stderr)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    _check_folder(args.out)
    from predictors.data import read_archs
    from predictors.files import load_predictor_file

    predictor = load_predictor_file(args.model)
    genes, rejected = read_archs(predictor.space, args.data)
    for row in rejected[:5]:
        print(f"rejected {row.source}:{row.row}: {row.reason}", file=sys.stderr)
    predictions = predictor.predict(genes) if len(genes) else []
    archs = predictor.space.to_json_batch(genes)
    with args.out.open("w") as out:
        for arch, prediction in zip(archs, predictions):
            out.write(json.dumps({"arch": arch, "prediction": float(prediction)}) + "\n")
    print(f"wrote {len(archs)} predictions to {args.out} ({len(rejected)} rows rejected)", file=sys.stderr)
    return 0


def run_collect(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from api.store import TrialStore
    from nas.supernet.collect import CollectRequest, collect

    request = CollectRequest(str(args.supernet), str(args.data), args.samples, args.workers, args.seed,
                             args.calib_images, args.test_images)
    store = TrialStore()
    console = Console(stderr=True)
    try:
        with Progress(TextColumn("collecting"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("last {task.fields[accuracy]}"), TimeRemainingColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task("", total=args.samples, accuracy="-")
            result = collect(request, store, lambda done, acc: progress.update(task, completed=done,
                                                                               accuracy=f"{acc:.1%}"))
    finally:
        store.close()
    console.print(f"job {result.job_id}: {result.evaluated} subnets measured ({result.status.value}); "
                  f"fit with --data job:{result.job_id}")
    print(result.job_id)
    return 0 if result.status.value == "succeeded" else 1


def _check_folder(path: Path) -> None:
    if not path.parent.is_dir():
        raise CommandError(f"cannot write {path}: folder {path.parent} does not exist")
