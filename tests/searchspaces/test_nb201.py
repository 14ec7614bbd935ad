"""The NAS-Bench-201 space: arch strings, exact costs vs NASLib's published figures and the built model,
isomorphism keys vs the benchmark's UniqueString column."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import searchspaces
from searchspaces.nb201 import EDGES, N_ARCHS, OPS, NB201Space
from tests.counting import build_on_meta, hook_macs, param_count

# NASLib's tuples use its own op order and edge order ((1,2),(1,3),(1,4),(2,3),(2,4),(3,4) on nodes 1..4)
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGE_OF_GENE = (0, 1, 3, 2, 4, 5)
ROUNDING = 0.5e-6  # NASLib stores millions with 6 decimals
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
gene_rows = st.lists(st.integers(0, len(OPS) - 1), min_size=len(EDGES), max_size=len(EDGES))


@pytest.fixture(scope="module")
def space() -> NB201Space:
    found = searchspaces.get_space("nb201")
    assert isinstance(found, NB201Space)
    return found


SPACE = searchspaces.get_space("nb201")


@pytest.fixture(scope="module")
def benchmark_rows(data_dir: Path) -> list[dict[str, str]]:
    with (data_dir / "nb201" / "nb201_test_accuracy.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def naslib(data_dir: Path) -> dict[str, Any]:
    return json.loads((data_dir / "nb201" / "naslib_zc_nb201_725.json").read_text())


def naslib_genes(entries: dict[str, Any]) -> np.ndarray:
    tuples = [tuple(int(v) for v in key.strip("()").split(",")) for key in entries]
    return np.array([[OPS.index(NASLIB_OPS[t[e]]) for e in NASLIB_EDGE_OF_GENE] for t in tuples], dtype=np.int16)


# -- arch strings -----------------------------------------------------------------------------------
@given(gene_rows)
def test_string_round_trip(row: list[int]) -> None:
    arch = SPACE.to_arch(np.array(row))
    text = SPACE.to_json(arch)
    assert SPACE.from_json(text) == arch
    assert SPACE.to_json_batch(np.array([row]))[0] == text
    assert SPACE.genes_from_strings([text]).tolist() == [row]
    assert text.count("~") == len(EDGES)


VALID_STRINGS = frozenset(SPACE.to_json_batch(SPACE.all_genes()))


@given(st.text(alphabet="|+~0123_abcdeknoprstvwxy ", max_size=120))
@settings(max_examples=200)
def test_random_text_is_rejected_unless_valid(text: str) -> None:
    assert SPACE.contains(text) == (text in VALID_STRINGS)


@given(gene_rows, st.integers(0, 200), st.sampled_from(["", "|", "+", "~", "0", "3", "x", " ", "||"]))
@settings(max_examples=300)
def test_edited_strings_are_rejected_unless_valid(row: list[int], at: int, insert: str) -> None:
    text = SPACE.to_json(SPACE.to_arch(np.array(row)))
    at = at % len(text)
    edited = text[:at] + insert + text[at + 1:]
    assert SPACE.contains(edited) == (edited in VALID_STRINGS)


@pytest.mark.parametrize(("value", "message"), [
    (None, "is a string like"),
    (["|none~0|"], "is a string like"),
    ("", "3 nodes"),
    ("|none~0|+|none~0|none~1|", "3 nodes"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "3 nodes"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 .* must be written"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "node 3 .* must be written"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 .* 2 input edge"),
    ("|none~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 .* 1 input edge"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none~1' of node 1 .* '<op>~0'"),
    ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none' of node 1"),
    ("|none~0|+|none~0|none~1|+|none~0|none~2|none~1|", "edge 'none~2' of node 3"),
    ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_3x3'"),
    ("|None~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'None'"),
    (" |none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
    ("|none~0| + |none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
])
def test_invalid_strings_are_rejected(space: NB201Space, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        space.from_json(value)
    with pytest.raises(ValueError, match=message):
        space.genes_from_strings([space.to_json(space.to_arch(np.zeros(6))), value])


def test_benchmark_strings_parse(space: NB201Space, benchmark_rows: list[dict[str, str]]) -> None:
    strings = [row["ArchitectureString"] for row in benchmark_rows]
    genes = space.genes_from_strings(strings)
    assert len(benchmark_rows) == N_ARCHS
    assert sorted(space.arch_index(genes).tolist()) == list(range(N_ARCHS))
    assert space.to_json_batch(genes) == strings
    assert [space.from_json(s).genes for s in strings[:50]] == [tuple(r) for r in genes[:50].tolist()]


def test_enumeration_and_genes(space: NB201Space) -> None:
    genes = space.all_genes()
    assert genes.shape == (N_ARCHS, 6)
    assert space.arch_index(genes).tolist() == list(range(N_ARCHS))
    assert np.array_equal(space.canonical(genes), genes)
    sample = space.sample(100, np.random.default_rng(0))
    assert sample.shape == (100, 6) and sample.max() < len(OPS)
    features = space.encode(sample)
    assert features.shape == (100, 30) and np.all(features.sum(1) == 6)


# -- costs --------------------------------------------------------------------------------------------
def test_costs_equal_naslib_for_all_725(space: NB201Space, naslib: dict[str, Any]) -> None:
    """NASLib's ``flops`` are tensorwatch/torchstat FLOPs (``torchstat_flops``), its ``params`` every parameter."""
    entries = naslib["cifar10"]
    genes = naslib_genes(entries)
    flops = np.array([e["flops"]["score"] for e in entries.values()])
    params = np.array([e["params"]["score"] for e in entries.values()])
    assert len(genes) == 725
    assert np.abs(space.torchstat_flops(genes) / 1e6 - flops).max() <= ROUNDING
    assert np.abs(space.params(genes) / 1e6 - params).max() <= ROUNDING
    # MACs leave out BN, ReLU and pooling: never more than NASLib's figure, at most ~41 % less (pool-heavy cells)
    ratio = space.macs(genes) / 1e6 / flops
    assert ratio.min() > 0.59 and ratio.max() < 0.99


def test_naslib_tuple_mapping(space: NB201Space, naslib: dict[str, Any], benchmark_rows: list[dict[str, str]]) -> None:
    """The op and edge mapping above: NASLib's CIFAR-100 validation accuracy tracks the benchmark's test accuracy."""
    test_acc = np.full(N_ARCHS, np.nan)
    genes = space.genes_from_strings([row["ArchitectureString"] for row in benchmark_rows])
    test_acc[space.arch_index(genes)] = [float(row["CIFAR100TestAccuracy200Epochs"]) for row in benchmark_rows]
    entries = naslib["cifar100"]
    val = np.array([e["val_accuracy"] for e in entries.values()])
    assert np.corrcoef(val, test_acc[space.arch_index(naslib_genes(entries))])[0, 1] > 0.99


def test_known_extremes(space: NB201Space) -> None:
    largest, smallest = np.full((1, 6), OPS.index("nor_conv_3x3")), np.zeros((1, 6), dtype=np.int16)
    assert space.macs(largest)[0] == 220_119_680
    assert space.macs(smallest)[0] == 7_783_040
    assert space.params(largest)[0] == 1_531_546
    assert space.params(smallest)[0] == 73_306
    best = np.array([space.from_json(BEST).genes])
    conv3_macs, conv1_macs = (5 * sum(k * k * c * c * s * s for c, s in ((16, 32), (32, 16), (64, 8))) for k in (3, 1))
    assert space.macs(best)[0] == 220_119_680 - 2 * conv3_macs + conv1_macs == 153_272_960


def test_costs_are_vectorized(space: NB201Space) -> None:
    genes = space.sample(64, np.random.default_rng(1))
    for cost in (space.macs, space.params, space.torchstat_flops):
        batch = cost(genes)
        assert batch.shape == (64,) and batch.dtype == np.int64
        assert batch.tolist() == [int(cost(row[None])[0]) for row in genes]


def torchstat_count(model: nn.Module) -> int:
    """tensorwatch's torchstat rules on a forward pass of one 32x32 image."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(module, nn.Conv2d):
            total += math.prod(module.kernel_size) * module.in_channels // module.groups * out.numel()
        elif isinstance(module, nn.BatchNorm2d):
            total += x.numel() * (2 if module.affine else 1)
        elif isinstance(module, nn.ReLU):
            total += x.numel()
        elif isinstance(module, nn.AvgPool2d):
            total += out.numel() * module.kernel_size ** 2
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            total += x.shape[1] * (x.shape[2] + 1) * (x.shape[3] + 1)
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32, device=next(model.parameters()).device))
    for handle in handles:
        handle.remove()
    return total


MODEL_ROWS = [[3] * 6, [0] * 6, [4] * 6, [1] * 6, *SPACE.sample(4, np.random.default_rng(7)).tolist()]


@pytest.mark.parametrize("row", MODEL_ROWS, ids=lambda r: "".join(map(str, r)))
def test_costs_equal_the_built_model(space: NB201Space, row: list[int]) -> None:
    row = np.array(row)
    model = build_on_meta(lambda: space.build(space.to_arch(row)))
    macs, logits = hook_macs(model, 32)
    assert logits.shape == (1, 10)
    assert space.macs(row[None])[0] == macs
    assert space.params(row[None])[0] == param_count(model)
    assert space.torchstat_flops(row[None])[0] == torchstat_count(model)


def test_built_model_runs(space: NB201Space) -> None:
    model = space.build(space.from_json(BEST))
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# -- isomorphism keys ---------------------------------------------------------------------------------
def normalize_unique_string(text: str) -> str:
    """The benchmark's UniqueString rewritten by the key's rules: '#' (zero) terms and ops on all-zero
    sums are dropped, sums are sorted multisets, ``0`` is ``x`` and ``(s)@op`` is ``op(s)``."""
    terms, end = _parse_sum(text, 0)
    assert end == len(text), text
    return "+".join(sorted(terms)) or "zero"


def _parse_sum(text: str, i: int) -> tuple[list[str], int]:
    terms = []
    while True:
        term, i = _parse_term(text, i)
        terms += [term] if term else []
        if i == len(text) or text[i] != "+":
            return terms, i
        i += 1


def _parse_term(text: str, i: int) -> tuple[str | None, int]:
    if text[i] in "#0":
        return ("x" if text[i] == "0" else None), i + 1
    assert text[i] == "(", text
    inner, i = _parse_sum(text, i + 1)
    assert text[i:i + 2] == ")@", text
    end = i + 2
    while end < len(text) and text[end] not in "+)":
        end += 1
    op = text[i + 2:end]
    return (f"{op}({'+'.join(sorted(inner))})" if inner else None), end


def test_isomorphism_keys_agree_with_unique_strings(space: NB201Space, benchmark_rows: list[dict[str, str]]) -> None:
    genes = space.genes_from_strings([row["ArchitectureString"] for row in benchmark_rows])
    keys = space.isomorphism_keys(genes)
    uniques = [row["UniqueString"] for row in benchmark_rows]
    assert keys == [normalize_unique_string(u) for u in uniques]
    key_of_unique: dict[str, str] = {}
    for unique, key in zip(uniques, keys):
        assert key_of_unique.setdefault(unique, key) == key  # equal UniqueString => equal key
    # the key also merges UniqueStrings that differ only in zero terms or in the order of nested sums
    assert len(set(uniques)) == 6466 and len(set(keys)) == 4930


@pytest.mark.parametrize(("a", "b", "key"), [
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
     "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", "zero"),
    ("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
     "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", "x"),
    ("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
     "|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|", "nor_conv_3x3(x)"),
    ("|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|",
     "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|",
     "avg_pool_3x3(x)+nor_conv_1x1(x)"),
    ("|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
     "zero"),
])
def test_equivalent_cells_share_a_key(space: NB201Space, a: str, b: str, key: str) -> None:
    genes = space.genes_from_strings([a, b])
    assert space.isomorphism_keys(genes) == [key, key]
