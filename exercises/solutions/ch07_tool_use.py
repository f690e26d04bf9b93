"""Reference solutions for chapter 7 (the library's versions live in mosslite/tools.py)."""

from __future__ import annotations

import ast
import re
from fractions import Fraction

MAX_EXPONENT = 1000
MAX_DEPTH = 40
MAX_LITERAL_DIGITS = 100

_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}


def _walk(node: ast.AST, depth: int = 0):
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if isinstance(node.value, int):
            if len(str(node.value)) > MAX_LITERAL_DIGITS:
                raise ValueError("number literal too long")
            return Fraction(node.value)
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _walk(node.operand, depth + 1)
        return value if isinstance(node.op, ast.UAdd) else -value
    if isinstance(node, ast.BinOp):
        a, b = _walk(node.left, depth + 1), _walk(node.right, depth + 1)
        if type(node.op) in _OPS:
            return _OPS[type(node.op)](a, b)
        if isinstance(node.op, ast.Div):
            if b == 0:
                raise ValueError("division by zero")
            return a / b
        if isinstance(node.op, ast.Pow):
            if abs(b) > MAX_EXPONENT:
                raise ValueError(f"exponent above {MAX_EXPONENT}")
            if a == 0 and b < 0:
                raise ValueError("division by zero")
            if isinstance(a, Fraction) and isinstance(b, Fraction) and b.denominator == 1:
                return a ** int(b)
            try:
                return float(a) ** float(b)
            except OverflowError as err:
                raise ValueError(f"out of range: {err}") from err
    raise ValueError(f"not allowed: {ast.unparse(node)[:40]!r}")


def safe_calculate(expression: str) -> str:
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot parse {expression[:40]!r}") from err
    value = _walk(tree.body)
    if isinstance(value, complex):
        raise ValueError("not a real number")
    if isinstance(value, Fraction) and value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.10g}"


_CALL = re.compile(r'\s*([A-Za-z][A-Za-z0-9]*)\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)\s*')


def parse_commands(text: str) -> list[tuple[str, str]]:
    text = text.strip()
    if text in ("", "None"):
        return []
    out, pos = [], 0
    while pos < len(text):
        match = _CALL.match(text, pos)
        if not match:
            raise ValueError(f"cannot parse command at {text[pos:pos + 40]!r}")
        out.append((match[1], re.sub(r"\\(.)", r"\1", match[2])))
        pos = match.end()
        if pos < len(text):
            if text[pos] not in "+,":
                raise ValueError(f"expected '+' or ',' at {text[pos:pos + 40]!r}")
            pos += 1
            if pos == len(text):
                raise ValueError("a command is missing after the last separator")
    return out
