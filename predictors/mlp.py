"""Pretrained MLP accuracy predictors, fine-tuned on measured accuracies; saved as JSON (``nas-mlp``).

- ``ofa-finetune``: OFA's published w1.2 predictor (its 128-d encoding and weights) fine-tuned with a
  small learning rate on accuracies measured for another OFA supernet, e.g. DyNAS-T's w1.0 subnets.
- ``mlp``: FBNetV3-style. An MLP on the space's one-hot encoding is first pretrained to predict cheap
  proxies of many sampled archs (MACs, parameters and the GBDT's structure features: OFA per-stage
  depth, kernel and expand, resolution; NAS-Bench-201 input-to-output paths; each z-scored), so it
  learns which genes matter before it sees an accuracy; then a fresh one-output head and the body are
  fine-tuned on the few measured accuracies.

Both stop early on a seeded 20 % of the measured rows and are deterministic for a seed. The file holds
the format, feature-schema version, space, kind, layer widths, target transform and the weights as
base64 float32 (about 2 MB for OFA's 128-400-400-400-1 network, under 1 MB for ``mlp``).
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from predictors.base import Predictor
from predictors.files import PredictorFileError, load_as, write_predictor_file
from predictors.gbdt import features, logit, sigmoid
from predictors.mlp_training import Schedule, mlp, seeded, train, weights_from_json, weights_to_json
from searchspaces.base import SearchSpace

MIN_ROWS = 5
BATCH = 65_536  # rows per forward pass when predicting, bounds memory on large batches


class MLPPredictor(Predictor):
    """Shared prediction, target transform and file handling; subclasses say how fitting starts."""

    FORMAT = "nas-mlp"
    FEATURE_SCHEMA = 1
    transform = "accuracy"
    schedule: Schedule

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.model: nn.Sequential | None = None
        self.layers: list[int] = []
        self.target_mean, self.target_std = 0.0, 1.0
        self.evaluation: dict[str, Any] = {}

    def features(self, genes: np.ndarray) -> np.ndarray:
        return self.space.encode(genes)

    @abstractmethod
    def start(self, x: np.ndarray, target: np.ndarray) -> tuple[nn.Sequential, list[int], dict[str, Any]]:
        """The network fine-tuning on features ``x`` and ``target`` starts from, its layer widths and
        figures about how it was made."""

    def fit(self, genes: np.ndarray, y: np.ndarray) -> MLPPredictor:
        if len(genes) < MIN_ROWS:
            raise ValueError(f"an MLP predictor needs at least {MIN_ROWS} distinct archs, got {len(genes)}")
        y = np.asarray(y, dtype=np.float64)
        if self.transform == "logit":
            self.target_mean, self.target_std = float(logit(y).mean()), float(logit(y).std()) or 1.0
        x, target = self.features(genes), self._target(y)
        self.model, self.layers, made = self.start(x, target)
        tuned = train(self.model, x, target, self.schedule, self.seed)
        self.evaluation = {"trained_on": len(genes), **made, "finetune_epochs": tuned.epochs,
                           "finetune_val_rmse": tuned.val_rmse * self.target_std}
        return self

    @torch.inference_mode()
    def predict(self, genes: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ValueError(f"the {self.name} predictor is not fitted")
        out = np.empty(len(genes), dtype=np.float64)
        for start in range(0, len(genes), BATCH):
            batch = torch.from_numpy(self.features(genes[start:start + BATCH]))
            out[start:start + len(batch)] = self.model(batch)[:, 0].numpy()
        out = out * self.target_std + self.target_mean
        return sigmoid(out) if self.transform == "logit" else out

    def _target(self, accuracy: np.ndarray) -> np.ndarray:
        value = logit(accuracy) if self.transform == "logit" else accuracy
        return (value - self.target_mean) / self.target_std

    def describe(self) -> str:
        figures = self.evaluation
        pretrained = (f"pretrained on {figures['proxy_archs']} sampled archs for {figures['pretrain_epochs']} epochs, "
                      if "proxy_archs" in figures else "")
        return (f"{self.name}: {'-'.join(map(str, self.layers))} MLP, {pretrained}fine-tuned for "
                f"{figures['finetune_epochs']} epochs (validation RMSE {figures['finetune_val_rmse']:.4f})")

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        if self.model is None:
            raise ValueError(f"the {self.name} predictor is not fitted")
        write_predictor_file(path, {
            "format": self.FORMAT, "feature_schema": self.FEATURE_SCHEMA, "space": self.space.name,
            "kind": self.name, "layers": self.layers, "evaluation": self.evaluation,
            "target": {"transform": self.transform, "mean": self.target_mean, "std": self.target_std},
            "weights": weights_to_json(self.model),
        })

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace | None = None) -> MLPPredictor:
        """Load a fitted file; with ``space``, refuse a file made for another space."""
        return load_as(cls, path, space)

    @classmethod
    def from_document(cls, document: dict[str, Any], space: SearchSpace) -> MLPPredictor:
        kind = KINDS.get(document.get("kind"))  # type: ignore[arg-type]
        if kind is None:
            raise PredictorFileError(f"unknown MLP predictor kind {document.get('kind')!r}")
        predictor = kind(space)
        predictor.layers = document["layers"]
        predictor.target_mean, predictor.target_std = document["target"]["mean"], document["target"]["std"]
        predictor.evaluation = document.get("evaluation", {})
        predictor.model = mlp(predictor.layers).eval()
        predictor.model.load_state_dict(weights_from_json(document["weights"]))
        return predictor


class OFAFinetunePredictor(MLPPredictor):
    """OFA's published predictor, fine-tuned. The target is raw accuracy, not its logit: the published
    head already outputs accuracy fractions, so the starting loss is small and the pretrained ranking
    is kept; and ImageNet top-1 of these subnets spans about 0.70-0.81, where the logit is nearly
    linear in accuracy, so it would not spread the crowded top as it does for NAS-Bench-201."""

    name = "ofa-finetune"
    schedule = Schedule(lr=1e-5, max_epochs=150, patience=10, batch_size=64)

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        from predictors.ofa_mlp import check_ofa_space

        super().__init__(check_ofa_space(space), seed)

    def features(self, genes: np.ndarray) -> np.ndarray:
        from predictors.ofa_mlp import ofa_features

        return ofa_features(self.space, genes)  # type: ignore[arg-type]

    def start(self, x: np.ndarray, target: np.ndarray) -> tuple[nn.Sequential, list[int], dict[str, Any]]:
        """OFA's network with its output linearly recalibrated to the measured accuracies. Without this,
        the first epochs spend the gradient on the offset between supernets (w1.2 subnets are more
        accurate) and measurably worsened the ranking (DyNAS-T held-out Kendall tau fell below OFA's)."""
        from predictors.ofa_mlp import OFA_LAYERS, OFAAccuracyPredictor

        model = OFAAccuracyPredictor(self.space).model
        with torch.no_grad():
            slope, offset = np.polyfit(model(torch.from_numpy(x))[:, 0].numpy(), target, 1)
            model[-1].weight.mul_(float(slope))
            model[-1].bias.mul_(float(slope)).add_(float(offset))
        return model, OFA_LAYERS, {"started_from": "ofa-mlp (w1.2)", "calibration": [float(slope), float(offset)]}


class ProxyPretrainedMLP(MLPPredictor):
    """FBNetV3-style: pretrained on cheap proxies of sampled archs, fine-tuned on the logit of accuracy
    (z-scored), which spreads out the crowded top of NAS-Bench-201's 10-94 % range."""

    name = "mlp"
    transform = "logit"
    hidden = 256
    pretrain = Schedule(lr=1e-3, max_epochs=30, patience=3, batch_size=256, val_share=0.1)
    schedule = Schedule(lr=3e-4, max_epochs=300, patience=20, batch_size=32, weight_decay=1e-4)

    def __init__(self, space: SearchSpace, seed: int = 0, proxy_archs: int = 10_000) -> None:
        super().__init__(space, seed)
        self.proxy_archs = proxy_archs  # 0: no pretraining, a plain MLP (the ablation baseline)

    def start(self, x: np.ndarray, target: np.ndarray) -> tuple[nn.Sequential, list[int], dict[str, Any]]:
        body = [x.shape[1], self.hidden, self.hidden]
        if self.proxy_archs == 0:
            return seeded(self.seed, lambda: mlp([*body, 1])), [*body, 1], {}
        genes = self.space.sample(self.proxy_archs, np.random.default_rng(self.seed))
        proxies = proxy_targets(self.space, genes)
        model = seeded(self.seed, lambda: mlp([*body, proxies.shape[1]]))
        pretrained = train(model, self.features(genes), proxies, self.pretrain, self.seed)
        model[-1] = seeded(self.seed + 1, lambda: nn.Linear(self.hidden, 1))
        return model, [*body, 1], {"proxy_archs": self.proxy_archs, "pretrain_epochs": pretrained.epochs,
                                   "pretrain_val_rmse": pretrained.val_rmse}


KINDS: dict[str, type[MLPPredictor]] = {OFAFinetunePredictor.name: OFAFinetunePredictor,
                                        ProxyPretrainedMLP.name: ProxyPretrainedMLP}


def proxy_targets(space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """Cheap per-arch quantities to pretrain on: the GBDT's cost and structure features, z-scored."""
    values = features(space, genes)[:, int(space.gene_sizes.sum()):].astype(np.float64)
    std = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)

