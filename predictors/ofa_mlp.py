"""Once-for-All's published ImageNet accuracy predictor for the MobileNetV3 w1.2 supernet.

A 128-400-400-400-1 ReLU MLP over OFA's 128-d encoding: 20 kernel one-hots (3 each), 20 expand
one-hots (3 each), unused blocks all zero, then a resolution one-hot over 112..224 step 16.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from nas.artifacts import Artifact, ArtifactError, locate
from predictors.base import Predictor
from predictors.mlp_training import mlp
from searchspaces.base import SearchSpace
from searchspaces.ofa_mbv3 import N_BLOCKS, OFAMobileNetV3Space

OFA_PREDICTOR = Artifact(
    relative_path="ofa/acc_predictor_mbv3_w1.2.pth",
    url="https://raw.githubusercontent.com/han-cai/files/master/ofa/acc_predictor.pth",
    sha256="48685122a3540636b06699af66cd816456b25f29b69563e2fda9bed4018eeba0",
)
RESOLUTION_BINS = np.arange(112, 225, 16)
HIDDEN = 400
OFA_LAYERS = [128, HIDDEN, HIDDEN, HIDDEN, 1]


def ofa_mlp() -> nn.Sequential:
    return mlp(OFA_LAYERS)


def ofa_features(space: OFAMobileNetV3Space, genes: np.ndarray) -> np.ndarray:
    """OFA's 128-d encoding of a batch of gene rows (float32)."""
    ks, e, d, r = space.split(genes)
    active = space.active_blocks(d)
    rows = np.arange(len(genes))[:, None]
    slots = np.arange(N_BLOCKS) * 3
    features = np.zeros((len(genes), 128), dtype=np.float32)
    features[rows, slots + ks] = active
    features[rows, 3 * N_BLOCKS + slots + e] = active
    resolution_bin = (np.asarray(space.resolutions)[r] - RESOLUTION_BINS[0]) // 16
    features[rows[:, 0], 2 * 3 * N_BLOCKS + resolution_bin] = 1.0
    return features


def check_ofa_space(space: SearchSpace) -> OFAMobileNetV3Space:
    """``space`` if OFA's encoding can describe it (an OFA MobileNetV3 space within 112..239 px)."""
    if not isinstance(space, OFAMobileNetV3Space) or not (
            RESOLUTION_BINS[0] <= min(space.resolutions) and max(space.resolutions) < RESOLUTION_BINS[-1] + 16):
        raise ValueError(f"the OFA predictor reads OFA MobileNetV3 archs at 112..224 px, not {space.name}")
    return space


class OFAAccuracyPredictor(Predictor):
    name = "ofa-mlp"
    trained_for = "ofa-mbv3-w1.2"

    def __init__(self, space: SearchSpace, path: str | Path | None = None, batch_size: int = 65536) -> None:
        self.space = check_ofa_space(space)
        self.batch_size = batch_size
        self.path = Path(path) if path else locate(OFA_PREDICTOR)
        self.model = ofa_mlp().eval()
        self.model.load_state_dict(_load_state_dict(self.path))

    def features(self, genes: np.ndarray) -> np.ndarray:
        return ofa_features(self.space, genes)

    @torch.inference_mode()
    def predict(self, genes: np.ndarray) -> np.ndarray:
        out = np.empty(len(genes), dtype=np.float64)
        for start in range(0, len(genes), self.batch_size):
            batch = torch.from_numpy(self.features(genes[start:start + self.batch_size]))
            out[start:start + len(batch)] = self.model(batch)[:, 0].numpy()
        return out


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"predictor file {path} does not exist") from None
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise ArtifactError(f"{path} is not a loadable predictor checkpoint ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    expected = ofa_mlp().state_dict()
    if not isinstance(state, dict) or {k: tuple(v.shape) for k, v in state.items()} != {
        k: tuple(v.shape) for k, v in expected.items()
    }:
        raise ArtifactError(f"{path} does not hold OFA's 128-400-400-400-1 predictor weights")
    return state
