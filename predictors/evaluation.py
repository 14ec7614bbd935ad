"""How far to trust a predictor: rank correlation, error and top-k recall against measured accuracy."""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, spearmanr


def rank_metrics(predicted: np.ndarray, measured: np.ndarray, top_k: int = 10) -> dict[str, float | int]:
    """Kendall tau-b, Spearman rho, RMSE (accuracy fractions) and the share of the ``top_k`` best
    measured archs that are among the ``top_k`` best predicted."""
    predicted, measured = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    k = min(top_k, len(measured))
    true_top = set(np.argsort(-measured, kind="stable")[:k].tolist())
    predicted_top = set(np.argsort(-predicted, kind="stable")[:k].tolist())
    return {
        "archs": len(measured),
        "kendall_tau": float(kendalltau(predicted, measured)[0]),
        "spearman_rho": float(spearmanr(predicted, measured)[0]),
        "rmse": float(np.sqrt(np.mean((predicted - measured) ** 2))),
        f"top{k}_recall": len(true_top & predicted_top) / k,
    }
