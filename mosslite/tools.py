"""MOSS's plugins, run for real: `Search` (BM25 over indexed text), `Calculate` (exact, safe arithmetic) and `Solve`
(equations through SymPy), plus the parser for the `<|Commands|>` line the model writes.

The model's output is untrusted input: nothing here calls `eval`, every expression is parsed into a tree and walked
against an allow-list, and every size that could grow without bound (exponents, digits, nesting, time) is capped.
"""

from __future__ import annotations

import ast
import math
import re
import signal
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

# ------------------------------------------------------------------------------------------------- command parsing
_CALL = re.compile(r'\s*([A-Za-z][A-Za-z0-9]*)\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)\s*')


@dataclass(frozen=True)
class Command:
    tool: str  # "Search", "Calculate", "Solve", …
    argument: str


class ToolError(ValueError):
    """A tool refused or failed; the message goes back to the model as the result, never as a crash."""


def parse_commands(text: str) -> list[Command]:
    """The calls in a `<|Commands|>` body, e.g. `Search("Kelob city")` or `None` (no calls); several may be joined
    by `+` or `,`. Raises ToolError naming the unparsable part."""
    text = text.strip()
    if text in ("", "None"):
        return []
    commands, pos = [], 0
    while pos < len(text):
        match = _CALL.match(text, pos)
        if not match:
            raise ToolError(f"cannot parse command at {text[pos:pos + 40]!r}; expected Tool(\"argument\")")
        commands.append(Command(match[1], match[2].replace('\\"', '"').replace("\\\\", "\\")))
        pos = match.end()
        if pos < len(text):
            if text[pos] not in "+,":
                raise ToolError(f"expected '+' or ',' between commands at {text[pos:pos + 40]!r}")
            pos += 1
            if pos == len(text):
                raise ToolError(f"a command is missing after the last {text[-1]!r}")
    return commands


# ------------------------------------------------------------------------------------------------ safe arithmetic
MAX_DIGITS = 1000  # no literal or result may have more digits than this
MAX_EXPONENT = 10_000
MAX_NODES = 200  # expression-tree size
MAX_DEPTH = 40

_FUNCTIONS: dict[str, Callable] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "log": math.log, "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _normalise(expression: str) -> str:
    """Accept the symbols people and models write: full-width forms (NFKC), × ÷ ^ and the minus sign."""
    return unicodedata.normalize("NFKC", expression).translate(str.maketrans({"×": "*", "÷": "/", "^": "**", "−": "-"}))


def _too_big(n: int) -> bool:
    """More than MAX_DIGITS decimal digits, judged from the bit length (str() of a huge int is itself refused)."""
    return abs(n).bit_length() * math.log10(2) > MAX_DIGITS


def _check_size(value):
    if isinstance(value, int):  # Fraction // Fraction is an int: keep it exact, as a Fraction
        value = Fraction(value)
    if isinstance(value, Fraction):
        if _too_big(value.numerator) or _too_big(value.denominator):
            raise ToolError(f"result has more than {MAX_DIGITS} digits")
    elif isinstance(value, complex):  # (-1) ** 0.5
        raise ToolError("result is not a real number")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ToolError("result is not a finite number")
    return value


def _evaluate(node: ast.AST, depth: int = 0):
    if depth > MAX_DEPTH:
        raise ToolError("expression is nested too deeply")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if isinstance(node.value, int) and len(str(node.value)) > MAX_DIGITS:
            raise ToolError(f"number literal has more than {MAX_DIGITS} digits")
        return Fraction(node.value) if isinstance(node.value, int) else node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _evaluate(node.operand, depth + 1)
        return value if isinstance(node.op, ast.UAdd) else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        a, b = _evaluate(node.left, depth + 1), _evaluate(node.right, depth + 1)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and b == 0:
            raise ToolError("division by zero")
        try:
            return _check_size(_BINARY[type(node.op)](a, b))
        except (OverflowError, ZeroDivisionError) as err:  # a huge exact number met a float
            raise ToolError(f"result out of range: {err}") from err
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exponent = _evaluate(node.left, depth + 1), _evaluate(node.right, depth + 1)
        if abs(exponent) > MAX_EXPONENT:
            raise ToolError(f"exponent {exponent} is larger than {MAX_EXPONENT}")
        if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
            size = max(abs(base.numerator), base.denominator)  # 1/40 grows its denominator as fast as 40 grows
            if size > 1 and int(abs(exponent)) * math.log10(size) > MAX_DIGITS:
                raise ToolError(f"result has more than {MAX_DIGITS} digits")
            if base == 0 and exponent < 0:
                raise ToolError("division by zero")
            return _check_size(base ** int(exponent))
        try:
            return _check_size(float(base) ** float(exponent))
        except (OverflowError, ZeroDivisionError) as err:
            raise ToolError(f"power out of range: {err}") from err
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords and 1 <= len(node.args) <= 2):
        args = [float(_evaluate(a, depth + 1)) for a in node.args]
        try:
            return _check_size(_FUNCTIONS[node.func.id](*args))
        except (ValueError, OverflowError, TypeError) as err:
            raise ToolError(f"{node.func.id}: {err}") from err
    raise ToolError(f"not allowed in a calculation: {ast.unparse(node)[:40]!r}")


@contextmanager
def _time_limit(seconds: float):
    """Abort a tool call that runs too long (main thread only; elsewhere the size caps alone bound the work)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise ToolError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _parse(expression: str, max_length: int = 500) -> ast.Expression:
    if len(expression) > max_length:
        raise ToolError(f"expression longer than {max_length} characters")
    try:
        tree = ast.parse(_normalise(expression), mode="eval")
    except (SyntaxError, ValueError) as err:
        raise ToolError(f"cannot parse {expression[:40]!r}: {getattr(err, 'msg', err)}") from err
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError(f"expression has more than {MAX_NODES} parts")
    return tree


def format_number(value) -> str:
    """Exact integers and fractions as integers or short decimals; floats to 10 significant digits."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        try:
            value = float(value)
        except OverflowError:  # a huge fraction: Decimal has the range a float lacks
            with localcontext() as context:
                context.prec = 10
                return f"{Decimal(value.numerator) / Decimal(value.denominator):.10g}"
    return f"{value:.10g}"


def calculate(expression: str, timeout: float = 1.0) -> str:
    """Evaluate arithmetic exactly (integers and fractions stay exact); raises ToolError on anything else."""
    with _time_limit(timeout):
        return format_number(_evaluate(_parse(expression).body))


# --------------------------------------------------------------------------------------------- equation solving
_SYMBOL = re.compile(r"[a-z]")
MAX_DEGREE = 8


def _sympy_expr(text: str, symbols: dict):
    """A SymPy expression built by walking our own parse tree: only numbers, one-letter unknowns and + - * / ^.
    While building it bounds the degree and the size of every number, so SymPy is never handed unbounded work."""
    import sympy

    def number(value):
        """`value` if it is not a rational with more than MAX_DIGITS digits."""
        if value.is_Rational and max(abs(value.p), value.q).bit_length() > MAX_DIGITS * 3.33:
            raise ToolError(f"a number in the equation has more than {MAX_DIGITS} digits")
        return value

    def build(node: ast.AST, depth: int = 0):
        """(expression, an upper bound on its degree in the unknowns)."""
        if depth > MAX_DEPTH:
            raise ToolError("equation is nested too deeply")
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            if len(str(node.value)) > MAX_DIGITS:
                raise ToolError(f"number literal has more than {MAX_DIGITS} digits")
            return number(sympy.Rational(str(node.value))), 0
        if isinstance(node, ast.Name) and _SYMBOL.fullmatch(node.id):
            return symbols.setdefault(node.id, sympy.Symbol(node.id)), 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            value, degree = build(node.operand, depth + 1)
            return (value if isinstance(node.op, ast.UAdd) else -value), degree
        if isinstance(node, ast.BinOp):
            (a, da), (b, db) = build(node.left, depth + 1), build(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                if not (b.is_Integer and 0 <= b <= MAX_DEGREE):
                    raise ToolError(f"only whole powers from 0 to {MAX_DEGREE} are allowed in equations")
                if a.is_Rational and a != 0 and int(b) * math.log10(max(abs(a.p), a.q)) > MAX_DIGITS:
                    raise ToolError(f"a number in the equation has more than {MAX_DIGITS} digits")
                degree = da * int(b)
                result = a**b
            elif type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
                degree = max(da, db) if isinstance(node.op, (ast.Add, ast.Sub)) else da + db
                if isinstance(node.op, ast.Div) and b == 0:
                    raise ToolError("division by zero")
                ops = {ast.Add: a.__add__, ast.Sub: a.__sub__, ast.Mult: a.__mul__, ast.Div: a.__truediv__}
                result = ops[type(node.op)](b)
            else:
                raise ToolError(f"not allowed in an equation: {ast.unparse(node)[:40]!r}")
            if degree > MAX_DEGREE:  # caught here, before SymPy ever expands (x+1)^4096
                raise ToolError(f"{text[:40]!r} has degree above {MAX_DEGREE}")
            return number(result), degree
        raise ToolError(f"not allowed in an equation: {ast.unparse(node)[:40]!r}")

    # Accept implicit products the way people write them: 2x, 3(x+1), 2.5x.
    text = re.sub(r"(\d)\s*([a-z(])", r"\1*\2", _normalise(text))
    return build(_parse(text).body)[0]


def solve(equations: str, timeout: float = 2.0) -> str:
    """Solve `2x+3=11`, a system `x+y=10;x-y=2`, or a polynomial `x^2-5x+6=0`; the `;x+y=?` style of MOSS's data
    (a target to report) is accepted. Returns `x = 4` style lines; raises ToolError on anything else."""
    import sympy

    parts = [p.strip() for p in re.split(r"[;；\n]", equations) if p.strip()]
    targets = [p[:-2].strip() for p in parts if p.endswith("=?")]
    parts = [p for p in parts if not p.endswith("=?")]
    if not parts or len(parts) > 6:
        raise ToolError("give one to six equations separated by ';'")
    symbols: dict = {}
    with _time_limit(timeout):
        system = []
        for part in parts:
            sides = part.split("=")
            if len(sides) != 2:
                raise ToolError(f"{part!r} is not an equation with one '='")
            equation = sympy.Eq(_sympy_expr(sides[0], symbols), _sympy_expr(sides[1], symbols))
            if equation is sympy.false:  # the unknowns cancelled and what is left is false, e.g. x+1=x+2
                return "No solution."
            if equation is sympy.true:  # an identity constrains nothing
                continue
            numerator = sympy.together(equation.lhs - equation.rhs).as_numer_denom()[0]
            if numerator.free_symbols and sympy.Poly(numerator, *numerator.free_symbols).total_degree() > MAX_DEGREE:
                raise ToolError(f"{part!r} has degree above {MAX_DEGREE}")
            system.append(equation)
        if not symbols:
            raise ToolError("no unknown to solve for")
        unknowns = [symbols[k] for k in sorted(symbols)]
        solutions = sympy.solve(system, unknowns, dict=True)
        if not solutions:
            return "No solution."
        lines = []
        for solution in solutions[:8]:
            shown = {str(k): v for k, v in solution.items()}
            for target in targets:
                shown[target] = _sympy_expr(target, symbols).subs(solution)
            lines.append(", ".join(f"{k} = {_show(v)}" for k, v in sorted(shown.items())))
        return "\n".join(lines)


def _show(value) -> str:
    import sympy

    value = sympy.nsimplify(value)
    if value.is_Integer:
        return str(int(value))
    if value.is_Rational:
        return f"{float(value):.6g}"
    return str(sympy.N(value, 6)) if value.is_number else str(value)


# ------------------------------------------------------------------------------------------------------ BM25 search
_WORD = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]")


def search_tokens(text: str) -> list[str]:
    """Lowercased words for Latin script, single characters for Chinese (and their bigrams, which carry most of
    the meaning in Chinese words)."""
    pieces = _WORD.findall(text.lower())
    bigrams = [a + b for a, b in zip(pieces, pieces[1:]) if "\u4e00" <= a[0] <= "\u9fff" and "\u4e00" <= b[0] <= "\u9fff"]
    return pieces + bigrams


class BM25Index:
    """Okapi BM25 over a fixed list of documents: `search` can only ever return what was indexed."""

    def __init__(self, documents: Iterable[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.documents = list(documents)
        self.k1, self.b = k1, b
        self.counts = [Counter(search_tokens(d)) for d in self.documents]
        self.lengths = [sum(c.values()) for c in self.counts]
        self.avg_length = sum(self.lengths) / max(len(self.lengths), 1)
        df = Counter(term for c in self.counts for term in c)
        n = len(self.documents)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    @classmethod
    def from_folder(cls, folder: str | Path, patterns: tuple[str, ...] = ("*.txt", "*.md"),
                    max_chars: int = 600) -> BM25Index:
        """An index of every paragraph (blank-line separated, cut to `max_chars`) of the text files under `folder`,
        each snippet starting with its file's relative path, so Search over your own notes can cite them."""
        root = Path(folder)
        files = sorted({p for pattern in patterns for p in root.rglob(pattern) if p.is_file()})
        documents = []
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            for paragraph in re.split(r"\n\s*\n", text):
                paragraph = " ".join(paragraph.split())
                for start in range(0, len(paragraph), max_chars):
                    documents.append(f"{path.relative_to(root)}: {paragraph[start:start + max_chars]}")
        if not documents:
            raise FileNotFoundError(f"no text to index under {root} (looked for {', '.join(patterns)}); point "
                                    f"from_folder at a folder of .txt/.md files or pass other patterns")
        return cls(documents)

    def scores(self, query: str) -> list[float]:
        terms = [t for t in search_tokens(query) if t in self.idf]
        out = []
        for counts, length in zip(self.counts, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg_length)
            out.append(sum(self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in terms if t in counts))
        return out

    def search(self, query: str, k: int = 3) -> list[str]:
        scored = sorted(((s, i) for i, s in enumerate(self.scores(query)) if s > 0), key=lambda p: (-p[0], p[1]))
        return [self.documents[i] for _, i in scored[:k]]


# ------------------------------------------------------------------------------------------------- the tool belt
TOOL_LINES = {  # how each tool is announced in the meta instruction (MOSS's wording)
    "Search": ("Web search", "Search(query)"),
    "Calculate": ("Calculator", "Calculate(expression)"),
    "Solve": ("Equation solver", "Solve(equation)"),
}


@dataclass
class Toolbox:
    """The tools one conversation may use; a disabled or unknown tool answers with an error result."""

    index: BM25Index | None = None
    enabled: tuple[str, ...] = ("Search", "Calculate", "Solve")
    top_k: int = 3

    def run(self, command: Command) -> str:
        """The text of the `<|Results|>` for one call, MOSS style: `Calculate("2+2") => 4`."""
        head = f'{command.tool}("{command.argument}") =>'
        try:
            if command.tool not in TOOL_LINES:
                raise ToolError(f"unknown tool {command.tool}; available: {', '.join(TOOL_LINES)}")
            if command.tool not in self.enabled:
                raise ToolError(f"{command.tool} is disabled in this conversation")
            if command.tool == "Calculate":
                return f"{head} {calculate(command.argument)}"
            if command.tool == "Solve":
                return f"{head} {solve(command.argument)}"
            if self.index is None:
                raise ToolError("no search index is loaded")
            hits = self.index.search(command.argument, self.top_k)
            return head + "".join(f"\n<|{i}|>: {hit}" for i, hit in enumerate(hits, 1)) if hits else f"{head} No result."
        except ToolError as err:
            return f"{head} Error: {err}"
        except Exception as err:  # a bug or a library failure inside a tool: the model gets an error, the chat goes on
            return f"{head} Error: {command.tool} failed ({type(err).__name__}: {str(err)[:80]})"

    def run_all(self, commands_text: str) -> str:
        """Results for a whole `<|Commands|>` body; `None` when there were no calls, an error result when it does
        not parse."""
        try:
            commands = parse_commands(commands_text)
        except ToolError as err:
            return f"Error: {err}"
        return "\n".join(self.run(c) for c in commands) if commands else "None"
