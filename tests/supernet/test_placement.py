"""Where Ray work on supernets is placed, as functions of a cluster's CPU and GPU counts (no Ray needed)."""

from __future__ import annotations

import pytest

from nas.errors import NasError
from nas.supernet.collect import gpu_share
from nas.supernet.distributed import uses_gpus


def test_training_workers_take_one_gpu_each_or_cpus_where_the_cluster_has_no_gpu() -> None:
    assert uses_gpus(workers=2, cpus=16, gpus=2) and uses_gpus(workers=2, cpus=1, gpus=4)
    assert not uses_gpus(workers=2, cpus=2, gpus=0)
    with pytest.raises(NasError, match=r"2 workers need 2 GPUs; the Ray cluster has 1 \(use --workers 1\)"):
        uses_gpus(workers=2, cpus=16, gpus=1)
    with pytest.raises(NasError, match="3 workers need 3 CPUs; the Ray cluster has 2"):
        uses_gpus(workers=3, cpus=2, gpus=0)


def test_evaluation_actors_share_the_gpus_so_that_all_of_them_fit() -> None:
    assert gpu_share(workers=2, gpus=0) == 0.0 and gpu_share(workers=2, gpus=4) == 1.0
    assert gpu_share(workers=3, gpus=2) == 0.5  # 0.67 each would leave the third actor no whole share
    assert gpu_share(workers=3, gpus=1) == 0.3333  # three shares fit in one GPU at Ray's 0.0001 steps
