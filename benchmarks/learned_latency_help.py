"""Learned latency on HELP's 5,000 OFA MobileNetV3 subnets measured on 12 GPU settings, measured now.

Per setting: fit on the first 4,000 subnets, predict the last 1,000, and print the share predicted
within ±10 % of the measurement (target: >= 95 % on every setting), the median relative error, and
which side the misses fall on (predicted low: the measurement spiked above the typical latency).

Run: python benchmarks/learned_latency_help.py  (data: $NAS_DATA_DIR/ofa/help_ofa_mbv3_5000_gpu_latency.jsonl)
"""

from __future__ import annotations

import json
import time

import numpy as np

from predictors.latency_learned import LearnedLatency
from predictors.tabular import locate_table
from searchspaces import get_space

TRAIN = 4000


def main() -> None:
    space = get_space("ofa-mbv3-w1.0")  # HELP's subnets use resolutions 128-224, as the w1.0 space does
    rows = [json.loads(line) for line in locate_table("ofa/help_ofa_mbv3_5000_gpu_latency.jsonl").open()]
    genes = space.to_genes([space.from_json({k: row[k] for k in ("ks", "e", "d", "r")}) for row in rows])
    settings = [key for key in rows[0] if key.endswith("_ms")]
    print(f"{len(rows)} subnets; train {TRAIN}, test {len(rows) - TRAIN}")
    met = True
    for setting in settings:
        measured = np.array([row[setting] for row in rows])
        start = time.perf_counter()
        model = LearnedLatency(space, setting.removesuffix("_ms")).fit(genes[:TRAIN], measured[:TRAIN])
        relative = model.cost(genes[TRAIN:]) / measured[TRAIN:] - 1
        error = np.abs(relative)
        within = float(np.mean(error <= 0.10))
        met &= within >= 0.95
        print(f"  {setting:16s} within ±10 %: {within:6.1%}   median error {np.median(error):5.1%}   "
              f"predicted >10 % low: {np.mean(relative < -0.10):5.1%}, high: {np.mean(relative > 0.10):5.1%}   "
              f"fit {time.perf_counter() - start:4.1f} s", flush=True)
    print("target >= 95 % on every setting:", "met" if met else "MISSED")


if __name__ == "__main__":
    main()
