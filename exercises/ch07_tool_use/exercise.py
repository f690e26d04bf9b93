"""Chapter 7 exercises: a calculator that is safe to hand a model's output, and the parser of its commands.

Replace each `raise NotImplementedError` with your code, then run `pytest exercises/ch07_tool_use`. Do not call
`eval`, `exec` or `mosslite.tools` (the tests compare your results with it).
"""

from __future__ import annotations

import ast  # noqa: F401  (you will want ast.parse and the node classes)
from fractions import Fraction  # noqa: F401

MAX_EXPONENT = 1000  # |exponent| above this is refused
MAX_DEPTH = 40  # tree nesting above this is refused
MAX_LITERAL_DIGITS = 100  # an integer literal with more digits is refused


def safe_calculate(expression: str) -> str:
    """Evaluate arithmetic exactly and return it as text: "1234*56" -> "69104", "7/2" -> "3.5", "1/3" -> "0.3333333333"
    (a non-integer result is shown with 10 significant digits, f"{float(value):.10g}").

    Parse with `ast.parse(expression, mode="eval")` and walk the tree yourself. Allowed: int and float literals,
    unary + and -, binary + - * / and ** (write "^" as "**" before parsing), parentheses. Integers stay exact (use
    Fraction), so 2**100 is printed in full. Refuse with ValueError, naming what is not allowed:
    - any other node: names, attributes, calls, subscripts, lambdas, comprehensions, strings, comparisons …;
    - a syntax error (ValueError, not SyntaxError);
    - division by zero; an exponent with |exponent| > MAX_EXPONENT (check BEFORE computing the power: 10**10**10
      must be refused at once, not computed); nesting deeper than MAX_DEPTH; an integer literal of more than
      MAX_LITERAL_DIGITS digits.
    """
    raise NotImplementedError


def parse_commands(text: str) -> list[tuple[str, str]]:
    """The calls in a `<|Commands|>` field as (tool, argument) pairs.

    "None" (or an empty field) -> []. Otherwise one or more calls `Tool("argument")` joined by "+" or ",", with any
    spaces around the pieces: 'Search("Kelob city") + Calculate("2+2")' -> [("Search", "Kelob city"),
    ("Calculate", "2+2")]. A tool name is a letter followed by letters or digits. Inside the quotes, \\" stands for
    a quote and \\\\ for a backslash: 'Search("say \\"hi\\"")' -> [("Search", 'say "hi"')]. Anything else (a missing
    quote or parenthesis, two calls with nothing between them, trailing text) is a ValueError.
    """
    raise NotImplementedError
