"""The OFA MobileNetV3 spaces: exact costs vs the built torch model, published figures, JSON, genes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import searchspaces
from searchspaces.ofa_mbv3 import DEPTHS, EXPANDS, KERNELS, OFAMobileNetV3Space
from tests.counting import build_on_meta, hook_macs, param_count

SPACE_NAMES = ("ofa-mbv3-w1.0", "ofa-mbv3-w1.2")
N_RANDOM = 10
# published MACs (millions) of the largest / smallest subnets at 224 px
PUBLISHED_224 = {"ofa-mbv3-w1.0": (566.2, 121.3), "ofa-mbv3-w1.2": (843.1, 193.1)}


def space_of(name: str) -> OFAMobileNetV3Space:
    space = searchspaces.get_space(name)
    assert isinstance(space, OFAMobileNetV3Space)
    return space


def uniform_arch(k: int, e: int, d: int, r: int) -> dict[str, Any]:
    return {"ks": [k] * 20, "e": [e] * 20, "d": [d] * 5, "r": r}


def extremes(space: OFAMobileNetV3Space) -> list[dict[str, Any]]:
    lo, hi = space.resolutions[0], space.resolutions[-1]
    return [uniform_arch(7, 6, 4, hi), uniform_arch(3, 3, 2, hi), uniform_arch(3, 3, 2, lo)]


def random_row(space: OFAMobileNetV3Space, index: int) -> np.ndarray:
    return space.sample(N_RANDOM, np.random.default_rng(1234))[index]


@pytest.fixture(params=SPACE_NAMES)
def space(request: pytest.FixtureRequest) -> OFAMobileNetV3Space:
    return space_of(request.param)


# -- exact costs against the materialized model ---------------------------------------------------
def assert_counts_match_model(space: OFAMobileNetV3Space, row: np.ndarray, meta: bool = True) -> None:
    """Counts on the built model (shapes only when ``meta``) equal the space's analytic ones."""
    arch = space.to_arch(row)
    resolution = space.resolution(arch)
    model = build_on_meta(lambda: space.build(arch)) if meta else space.build(arch)
    macs, logits = hook_macs(model, resolution)
    genes = row[None, :]
    assert logits.shape == (1, 1000)
    assert int(space.macs(genes)[0]) == macs
    assert space.net_spec(arch).macs(resolution) == macs
    assert int(space.params(genes)[0]) == param_count(model)
    assert space.net_spec(arch).params() == param_count(model)
    if not meta:
        assert bool(torch.isfinite(logits).all())


@pytest.mark.parametrize("name", SPACE_NAMES)
@pytest.mark.parametrize("index", range(N_RANDOM))
def test_random_arch_costs_match_hook_count(name: str, index: int) -> None:
    space = space_of(name)
    assert_counts_match_model(space, random_row(space, index))


@pytest.mark.parametrize("name", SPACE_NAMES)
@pytest.mark.parametrize("which", range(3), ids=["largest", "smallest", "smallest-lowres"])
def test_extreme_arch_costs_match_hook_count(name: str, which: int) -> None:
    space = space_of(name)
    assert_counts_match_model(space, np.array(space.from_json(extremes(space)[which]).genes, dtype=np.int16))


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_built_model_runs_on_real_input(name: str) -> None:
    space = space_of(name)
    row = random_row(space, 0).copy()
    row[-1] = 0  # lowest resolution keeps the CPU forward pass short
    assert_counts_match_model(space, row, meta=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACE_NAMES)
def test_largest_model_runs_on_real_input(name: str) -> None:
    space = space_of(name)
    assert_counts_match_model(space, np.array(space.from_json(extremes(space)[0]).genes, dtype=np.int16), meta=False)


def test_vectorized_costs_match_net_spec_on_a_batch(space: OFAMobileNetV3Space) -> None:
    genes = space.sample(200, np.random.default_rng(7))
    specs = [space.net_spec(space.to_arch(row)) for row in genes]
    resolutions = [space.resolution(space.to_arch(row)) for row in genes]
    assert space.macs(genes).tolist() == [s.macs(r) for s, r in zip(specs, resolutions)]
    assert space.params(genes).tolist() == [s.params() for s in specs]


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_published_largest_and_smallest_macs_at_224(name: str) -> None:
    space = space_of(name)
    genes = space.to_genes([space.from_json(uniform_arch(7, 6, 4, 224)), space.from_json(uniform_arch(3, 3, 2, 224))])
    largest, smallest = space.macs(genes) / 1e6
    assert largest == pytest.approx(PUBLISHED_224[name][0], abs=0.05)
    assert smallest == pytest.approx(PUBLISHED_224[name][1], abs=0.05)


def test_macs_grow_with_resolution_params_do_not(space: OFAMobileNetV3Space) -> None:
    row = random_row(space, 0)
    genes = np.repeat(row[None, :], len(space.resolutions), axis=0)
    genes[:, -1] = np.arange(len(space.resolutions))
    assert np.all(np.diff(space.macs(genes)) > 0)
    assert len(set(space.params(genes).tolist())) == 1


def test_w12_is_wider_than_w10() -> None:
    w10, w12 = space_of("ofa-mbv3-w1.0"), space_of("ofa-mbv3-w1.2")
    assert w10.resolutions == tuple(range(128, 225, 4))
    assert w12.resolutions == tuple(range(160, 225, 4))
    arch = uniform_arch(5, 4, 3, 192)
    m10 = w10.macs(w10.to_genes([w10.from_json(arch)]))[0]
    m12 = w12.macs(w12.to_genes([w12.from_json(arch)]))[0]
    assert m12 > m10


# -- JSON ------------------------------------------------------------------------------------------
@st.composite
def arch_dicts(draw: st.DrawFn, space: OFAMobileNetV3Space) -> dict[str, Any]:
    return {
        "ks": draw(st.lists(st.sampled_from(KERNELS), min_size=20, max_size=20)),
        "e": draw(st.lists(st.sampled_from(EXPANDS), min_size=20, max_size=20)),
        "d": draw(st.lists(st.sampled_from(DEPTHS), min_size=5, max_size=5)),
        "r": draw(st.sampled_from(space.resolutions)),
    }


def active_slots(depths: list[int]) -> list[int]:
    return [4 * stage + j for stage, d in enumerate(depths) for j in range(d)]


def test_json_round_trip_of_sampled_archs(space: OFAMobileNetV3Space) -> None:
    for row in space.sample(50, np.random.default_rng(3)):
        arch = space.to_arch(row)
        value = space.to_json(arch)
        assert space.from_json(value) == arch
        assert space.to_json(space.from_json(value)) == value


@pytest.mark.parametrize("name", SPACE_NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_json_round_trip_of_random_dicts(name: str, data: st.DataObject) -> None:
    space = space_of(name)
    value = data.draw(arch_dicts(space))
    arch = space.from_json(value)
    back = space.to_json(arch)
    assert back["d"] == value["d"] and back["r"] == value["r"]
    for slot in active_slots(value["d"]):
        assert back["ks"][slot] == value["ks"][slot]
        assert back["e"][slot] == value["e"][slot]
    assert space.from_json(back) == arch
    assert space.to_json(space.from_json(back)) == back
    assert space.contains(value)


def test_json_resolution_as_single_item_list(space: OFAMobileNetV3Space) -> None:
    value = uniform_arch(5, 4, 3, 192)
    assert space.from_json({**value, "r": [192]}) == space.from_json(value)


def test_unused_slots_do_not_matter(space: OFAMobileNetV3Space) -> None:
    a = uniform_arch(5, 4, 2, 192)
    b = {**a, "ks": list(a["ks"]), "e": list(a["e"])}
    for stage in range(5):
        b["ks"][4 * stage + 2], b["e"][4 * stage + 3] = 7, 6
    assert space.from_json(a) == space.from_json(b)
    c = {**a, "ks": [7, *a["ks"][1:]]}  # slot 0 is always used
    assert space.from_json(c) != space.from_json(a)


def bad_values(space: OFAMobileNetV3Space) -> list[Any]:
    good = uniform_arch(5, 4, 3, 192)
    return [
        {**good, "ks": [5] * 19},
        {**good, "e": [4] * 21},
        {**good, "d": [3] * 4},
        {**good, "ks": [4] + [5] * 19},
        {**good, "e": [5] * 20},
        {**good, "d": [1] * 5},
        {**good, "d": [5] * 5},
        {**good, "r": 225},
        {**good, "r": space.resolutions[0] - 4},
        {**good, "r": [192, 196]},
        {**good, "ks": "5" * 20},
        {**good, "ks": ["5"] * 20},
        {key: v for key, v in good.items() if key != "ks"},
        {key: v for key, v in good.items() if key != "e"},
        {key: v for key, v in good.items() if key != "d"},
        [good],
        None,
        "ks",
    ]


def test_from_json_rejects_bad_values(space: OFAMobileNetV3Space) -> None:
    for value in bad_values(space):
        with pytest.raises(ValueError, match=r"\S"):
            space.from_json(value)
        assert not space.contains(value)


def test_from_json_names_the_bad_key(space: OFAMobileNetV3Space) -> None:
    with pytest.raises(ValueError, match="'e'"):
        space.from_json({**uniform_arch(5, 4, 3, 192), "e": [5] * 20})
    with pytest.raises(ValueError, match="'ks'"):
        space.from_json({**uniform_arch(5, 4, 3, 192), "ks": [5] * 3})


def test_w10_only_resolution_rejected_by_w12() -> None:
    value = uniform_arch(3, 3, 2, 128)
    assert space_of("ofa-mbv3-w1.0").contains(value)
    assert not space_of("ofa-mbv3-w1.2").contains(value)


# -- genes -------------------------------------------------------------------------------------------
def test_gene_layout(space: OFAMobileNetV3Space) -> None:
    assert space.n_genes == 46
    assert space.gene_sizes.tolist() == [3] * 45 + [len(space.resolutions)]


def test_canonical_is_idempotent_and_sample_is_canonical(space: OFAMobileNetV3Space) -> None:
    rng = np.random.default_rng(11)
    raw = rng.integers(0, space.gene_sizes, size=(500, space.n_genes)).astype(np.int16)
    once = space.canonical(raw)
    assert np.array_equal(space.canonical(once), once)
    assert not np.array_equal(once, raw)  # uniformly drawn rows nearly always have unused slots set
    sample = space.sample(500, rng)
    assert np.array_equal(space.canonical(sample), sample)


def test_canonical_does_not_mutate_its_input(space: OFAMobileNetV3Space) -> None:
    raw = np.full((3, space.n_genes), 2, dtype=np.int16)
    raw[:, 40:45] = 0
    copy = raw.copy()
    space.canonical(raw)
    assert np.array_equal(raw, copy)


def test_sample_is_deterministic_per_seed(space: OFAMobileNetV3Space) -> None:
    a = space.sample(64, np.random.default_rng(5))
    b = space.sample(64, np.random.default_rng(5))
    c = space.sample(64, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (64, space.n_genes)
    assert ((a >= 0) & (a < space.gene_sizes)).all()


def test_encode_is_one_hot(space: OFAMobileNetV3Space) -> None:
    genes = space.sample(100, np.random.default_rng(9))
    features = space.encode(genes)
    assert features.shape == (100, int(space.gene_sizes.sum()))
    assert features.shape[1] == 45 * 3 + len(space.resolutions)
    assert features.dtype == np.float32
    assert set(np.unique(features).tolist()) <= {0.0, 1.0}
    assert (features.sum(1) == space.n_genes).all()
    starts = np.concatenate(([0], np.cumsum(space.gene_sizes)[:-1]))
    for j, (start, size) in enumerate(zip(starts, space.gene_sizes)):
        assert np.array_equal(features[:, start:start + size].argmax(1), genes[:, j])


def test_arch_and_genes_round_trip(space: OFAMobileNetV3Space) -> None:
    genes = space.sample(20, np.random.default_rng(2))
    archs = [space.to_arch(row) for row in genes]
    assert np.array_equal(space.to_genes(archs), genes)
    assert len({a.key for a in archs}) == len({a for a in archs})
    assert all(a.key.startswith(space.name + ":") for a in archs)


# -- shrinking -----------------------------------------------------------------------------------------
def test_shrink_step_never_grows_costs_and_reaches_zero(space: OFAMobileNetV3Space) -> None:
    rng = np.random.default_rng(21)
    genes = space.sample(300, rng)
    zero = np.zeros(space.n_genes, dtype=genes.dtype)
    for _ in range(200):
        before = genes.copy()
        genes = space.shrink_step(genes, rng)
        assert np.array_equal(space.canonical(genes), genes)
        assert (space.macs(genes) <= space.macs(before)).all()
        assert (space.params(genes) <= space.params(before)).all()
        moved = (before != zero).any(1)
        assert (genes.astype(int).sum(1)[moved] < before.astype(int).sum(1)[moved]).all()
        if (genes == zero).all():
            break
    assert (genes == zero).all()
    assert np.array_equal(space.shrink_step(genes, rng), genes)


def test_shrink_step_does_not_mutate_its_input(space: OFAMobileNetV3Space) -> None:
    genes = space.sample(10, np.random.default_rng(4))
    copy = genes.copy()
    space.shrink_step(genes, np.random.default_rng(0))
    assert np.array_equal(genes, copy)
