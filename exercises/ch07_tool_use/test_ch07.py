"""Frozen tests for chapter 7: a safe calculator and the `<|Commands|>` parser, checked against mosslite.tools."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosslite import tools


@pytest.mark.parametrize("expression, expected", [
    ("1234*56", "69104"), ("7/2", "3.5"), ("1/3", "0.3333333333"), ("2**100", str(2**100)), ("2^10", "1024"),
    ("-(3+4)*5", "-35"), ("+7--2", "9"), ("2**-2", "0.25"), ("1.5*4", "6"), ("(9876-1234)/4", "2160.5"),
])
def test_safe_calculate_is_exact(impl, expression, expected):
    assert impl.safe_calculate(expression) == expected


ATTACKS = [
    "__import__('os').system('ls')", "().__class__.__bases__[0].__subclasses__()", "(lambda: 1)()",
    "[x for x in range(10**9)]", "{x: x for x in range(9)}", "open('/etc/passwd')", "a.b.c", "x", "'a' * 10",
    "1 if 1 else 2", "1 < 2", "f'{1}'", "[1]*10", "10**10**10", "9**9**9", "2**100000", "1/0", "0**-1", "1+",
    "9" * 150, "-" * 60 + "1", "abs(-1)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_safe_calculate_refuses(impl, attack):
    start = time.perf_counter()
    with pytest.raises(ValueError):
        impl.safe_calculate(attack)
    assert time.perf_counter() - start < 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.sampled_from("+-*/"))
def test_safe_calculate_agrees_with_the_library(impl, a, b, op):
    expression = f"{a}{op}({b})"
    try:
        expected = tools.calculate(expression)
    except tools.ToolError:
        with pytest.raises(ValueError):
            impl.safe_calculate(expression)
        return
    assert impl.safe_calculate(expression) == expected


@pytest.mark.parametrize("text", [
    "None", "", 'Search("Kelob city")', 'Search("Kelob city") + Calculate("2+2")', ' Solve( "x+1=2" ) , Search("a")',
    r'Search("say \"hi\"")', r'Search("back\\slash")', 'Search("")', 'Search("多伦多 人口")',
])
def test_parse_commands_agrees_with_the_library(impl, text):
    assert impl.parse_commands(text) == [(c.tool, c.argument) for c in tools.parse_commands(text)]


@pytest.mark.parametrize("bad", [
    "Search(Kelob)", 'Search("x") Calculate("y")', "rm -rf /", 'Search("x"', 'Search("x") +', '"x"', "None None",
    'Search("x")garbage', "9Search(\"x\")",
])
def test_parse_commands_refuses(impl, bad):
    with pytest.raises(ValueError):
        impl.parse_commands(bad)
