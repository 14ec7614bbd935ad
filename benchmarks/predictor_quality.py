"""Accuracy-predictor quality on measured accuracies, against the baselines, measured now.

1. DyNAS-T (OFA MobileNetV3 w1.0, measured ImageNet top-1), leave one of the four files out and
   train on the other three: Kendall tau on the held-out file of MACs alone, OFA's published
   predictor (trained for the w1.2 supernet), xgboost with default settings on one-hot features,
   and our predictors: the GBDT, OFA's predictor fine-tuned (ofa-finetune) and the proxy-pretrained
   MLP (mlp).
2. NAS-Bench-201 CIFAR-10 test accuracy, random training sets of 100 and 1,000 archs, 5 seeds,
   tested on all other archs: Kendall tau of our GBDT, the proxy-pretrained MLP, the same MLP
   without pretraining and default xgboost on one-hot features.
3. Fit time on 2,000 rows (NAS-Bench-201) and prediction throughput (archs/s, OFA w1.0 and NB201):
   compiled (``predictors.compiled``; its build time on the first call) and through xgboost.

Run: python benchmarks/predictor_quality.py  (data: $NAS_DATA_DIR, default ../shared/data)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import xgboost as xgb
from scipy.stats import kendalltau

from nas.artifacts import data_dirs
from predictors.data import load_training_data
from predictors.gbdt import GBDTPredictor
from predictors.mlp import OFAFinetunePredictor, ProxyPretrainedMLP
from predictors.ofa_mlp import OFAAccuracyPredictor
from searchspaces import get_space
from searchspaces.base import SearchSpace


def default_xgboost(space: SearchSpace, genes: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """xgboost's defaults (100 trees, depth 6, eta 0.3) on one-hot features: the plain baseline."""
    model = xgb.train({"seed": 0}, xgb.DMatrix(space.encode(genes), label=y), num_boost_round=100)
    return lambda g: model.inplace_predict(space.encode(g))


def tau(predicted: np.ndarray, measured: np.ndarray) -> float:
    return float(kendalltau(predicted, measured)[0])


def dynast() -> None:
    space = get_space("ofa-mbv3-w1.0")
    files = sorted((data_dirs()[0] / "ofa" / "dynast_w1.0").glob("*.csv"))
    ofa = OFAAccuracyPredictor(space)
    print("1. DyNAS-T leave-one-file-out, Kendall tau on the held-out file")
    print(f"   {'held-out file':34s} {'n':>4s} {'MACs':>6s} {'OFA-MLP':>8s} {'xgb-def':>8s} {'GBDT':>6s} "
          f"{'ofa-ft':>6s} {'mlp':>6s}  fit GBDT/ofa-ft/mlp")
    for held_out in files:
        train = load_training_data(space, [f for f in files if f != held_out])
        test = load_training_data(space, [held_out])
        figures = [tau(space.macs(test.genes), test.accuracy), tau(ofa.predict(test.genes), test.accuracy),
                   tau(default_xgboost(space, train.genes, train.accuracy)(test.genes), test.accuracy)]
        seconds = []
        for predictor in (GBDTPredictor(space), OFAFinetunePredictor(space), ProxyPretrainedMLP(space)):
            start = time.perf_counter()
            predictor.fit(train.genes, train.accuracy)
            seconds.append(time.perf_counter() - start)
            figures.append(tau(predictor.predict(test.genes), test.accuracy))
        best = "" if max(figures[3:]) > max(figures[:3]) else "  (baseline best)"
        print(f"   {held_out.name:34s} {len(test.genes):4d} {figures[0]:6.3f} {figures[1]:8.3f} {figures[2]:8.3f} "
              f"{figures[3]:6.3f} {figures[4]:6.3f} {figures[5]:6.3f}  "
              f"{'/'.join(f'{s:.1f}' for s in seconds)} s{best}", flush=True)


def nb201() -> None:
    space = get_space("nb201")
    data = load_training_data(space, [data_dirs()[0] / "nb201" / "nb201_test_accuracy.csv"])
    print("\n2. NAS-Bench-201 CIFAR-10, Kendall tau on all archs not trained on (5 seeds)")
    for size in (100, 1000):
        figures: dict[str, list[float]] = {"GBDT": [], "mlp": [], "mlp unpretrained": [], "default xgboost": []}
        for seed in range(5):
            order = np.random.default_rng(seed).permutation(len(data.genes))
            train, test = order[:size], order[size:]
            models = {"GBDT": GBDTPredictor(space, seed=seed), "mlp": ProxyPretrainedMLP(space, seed=seed),
                      "mlp unpretrained": ProxyPretrainedMLP(space, seed=seed, proxy_archs=0)}
            for name, model in models.items():
                model.fit(data.genes[train], data.accuracy[train])
                figures[name].append(tau(model.predict(data.genes[test]), data.accuracy[test]))
            baseline = default_xgboost(space, data.genes[train], data.accuracy[train])
            figures["default xgboost"].append(tau(baseline(data.genes[test]), data.accuracy[test]))
        print(f"   {size:5d} training archs: " + "   ".join(
            f"{name} {np.mean(values):.3f} ± {np.std(values):.3f}" for name, values in figures.items()), flush=True)

    order = np.random.default_rng(0).permutation(len(data.genes))[:2000]
    start = time.perf_counter()
    gbdt = GBDTPredictor(space).fit(data.genes[order], data.accuracy[order])
    print(f"\n3. fit on 2,000 NB201 rows: {time.perf_counter() - start:.1f} s "
          f"({gbdt.rounds} trees x {gbdt.ensemble} models, depth {gbdt.params['max_depth']})")
    for name, genes, model in (("nb201", space.all_genes(), gbdt), ("ofa-mbv3-w1.0", None, None)):
        if model is None:
            w10 = get_space(name)
            train = load_training_data(w10, sorted((data_dirs()[0] / "ofa" / "dynast_w1.0").glob("*.csv")))
            model = GBDTPredictor(w10).fit(train.genes, train.accuracy)
            genes = w10.sample(200_000, np.random.default_rng(0))
        start = time.perf_counter()
        model.predict(genes[:1])
        compile_s = time.perf_counter() - start
        seconds = []
        for _ in range(5):
            start = time.perf_counter()
            model.predict(genes)
            seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.xgboost_margins(genes)
        xgboost_s = time.perf_counter() - start
        print(f"   predict {name} ({model.describe()}) through {model.evaluator}: "
              f"{len(genes) / np.median(seconds):,.0f} archs/s (median of 5 calls on {len(genes):,} archs; "
              f"compiled on the first call in {compile_s:.2f} s); through xgboost "
              f"{len(genes) / xgboost_s:,.0f} archs/s")

if __name__ == "__main__":
    dynast()
    nb201()
