"""Budget strings: ``<number><k|M|G>-<MACs|params>``, case-insensitive."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.budgets import Budget, BudgetError, format_quantity, parse_budget, parse_budgets


@pytest.mark.parametrize(
    ("text", "metric", "limit"),
    [
        ("600M-MACs", "macs", 600e6),
        ("0.6G-MACs", "macs", 600e6),
        ("600m-macs", "macs", 600e6),
        ("600M-macs", "macs", 600e6),
        ("5M-params", "params", 5e6),
        ("5m-PARAMS", "params", 5e6),
        ("1.5e8-MACs", "macs", 1.5e8),
        ("250k-MACs", "macs", 250e3),
        ("1G-MACs", "macs", 1e9),
        ("123456-params", "params", 123456),
        (" 600M-MACs ", "macs", 600e6),
    ],
)
def test_parse_budget(text: str, metric: str, limit: float) -> None:
    budget = parse_budget(text)
    assert budget.metric == metric
    assert budget.limit == pytest.approx(limit, rel=1e-12)


@pytest.mark.parametrize(
    "text", ["600X-MACs", "600M-joules", "-5M-MACs", "0M-MACs", "abc", "", "M-MACs", "600M", "600M-", "600MM-MACs",
             "6 00M-MACs", "600M-MACs-params"],
)
def test_bad_budget_raises(text: str) -> None:
    with pytest.raises(BudgetError, match=r"\S"):
        parse_budget(text)


def test_budget_error_is_a_value_error() -> None:
    assert issubclass(BudgetError, ValueError)


@pytest.mark.parametrize(("text", "fragment"), [("600M-joules", "joules"), ("-5M-MACs", "positive"),
                                                ("0M-MACs", "positive"), ("abc", "abc")])
def test_budget_error_says_why(text: str, fragment: str) -> None:
    with pytest.raises(BudgetError, match=fragment):
        parse_budget(text)


@settings(deadline=None)
@given(number=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
       scale=st.sampled_from([("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9)]))
def test_any_positive_number_with_scale_parses(number: float, scale: tuple[str, float]) -> None:
    suffix, factor = scale
    budget = parse_budget(f"{number!r}{suffix}-MACs")
    assert budget == Budget("macs", pytest.approx(number * factor, rel=1e-12))


@pytest.mark.parametrize("text", ["1e999-MACs", "1e400M-params"])
def test_non_finite_budget_raises(text: str) -> None:
    with pytest.raises(BudgetError):
        parse_budget(text)


def test_parse_budgets_keeps_order() -> None:
    budgets = parse_budgets(["600M-MACs", "5M-params"])
    assert [b.metric for b in budgets] == ["macs", "params"]
    assert [b.limit for b in budgets] == [600e6, 5e6]


@pytest.mark.parametrize("texts", [["600M-MACs", "0.5G-macs"], ["5M-params", "6M-params"],
                                   ["5M-params", "600M-MACs", "700M-MACs"]])
def test_duplicate_budgets_raise(texts: list[str]) -> None:
    with pytest.raises(BudgetError, match="more than one"):
        parse_budgets(texts)


def test_parse_budgets_of_nothing() -> None:
    assert parse_budgets([]) == []


@pytest.mark.parametrize(("value", "text"), [(600e6, "600.0M"), (193_078_200, "193.1M"), (1.5e9, "1.5G"),
                                             (2500, "2.5k"), (12, "12"), (0.5, "0.5")])
def test_format_quantity(value: float, text: str) -> None:
    assert format_quantity(value) == text


def test_budget_str() -> None:
    assert str(parse_budget("600M-MACs")) == "macs <= 600.0M"
