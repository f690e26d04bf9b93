"""The plugins: correct answers, and refusals of everything that is not plain arithmetic or an equation."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosslite.tools import BM25Index, Command, Toolbox, ToolError, calculate, parse_commands, solve


@pytest.mark.parametrize(
    "expression, expected",
    [("1234*5678", "7006652"), ("2^10", "1024"), ("1/3+1/6", "0.5"), ("(3+4)×5÷7", "5"), ("-7 // 2", "-4"),
     ("2**-2", "0.25"), ("sqrt(16)+abs(-2)", "6"), ("12345678901234567890*98765432109876543210",
                                                     "1219326311370217952237463801111263526900"),
     ("１２＋３", "15")],
)
def test_calculate_is_exact(expression, expected):
    assert calculate(expression) == expected


ATTACKS = [
    "__import__('os').system('echo hi')", "().__class__.__bases__[0].__subclasses__()", "(lambda: 1)()",
    "[x for x in range(10**9)]", "{x: x for x in range(9)}", "open('/etc/passwd')", "eval('1')", "exec('1')",
    "getattr(1, 'real')", "a.b.c", "x", "'a' * 10", "b'x'", "1 if 1 else 2", "(yield 1)", "1; 2", "f'{1}'",
    "9**9**9", "10**10**10", "2**100000", "9" * 1200, "1/0", "sqrt(-1)", "log(0)", "exp(100000)", "1e308*10",
    "sqrt(1, 2)", "round(x=1)", "-" * 60 + "1", "1" + "+1" * 300, "[1]*10", "(1,2)", "1 < 2", "not 1",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_calculate_refuses_attacks_and_unbounded_work(attack):
    start = time.perf_counter()
    with pytest.raises(ToolError):
        calculate(attack)
    assert time.perf_counter() - start < 1.5


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/^().,xe_ abcdefghijklmnopqrstuvwxyz[]'\"", max_size=60))
def test_calculate_fuzz_returns_a_number_or_refuses(text):
    try:
        result = calculate(text)
    except ToolError:
        return
    float(result)  # anything it does return is a number


@settings(max_examples=150, deadline=None)
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.sampled_from("+-*"))
def test_calculate_matches_python_integers(a, b, op):
    assert calculate(f"{a}{op}({b})") == str(eval(f"{a}{op}({b})"))  # noqa: S307 - the reference, on our own ints


@pytest.mark.parametrize(
    "equations, expected",
    [("2x+3=11", "x = 4"), ("x+y=10;x-y=2", "x = 6, y = 4"), ("x^2-5x+6=0", "x = 2\nx = 3"),
     ("2.5x+1.5y=50;x+y=24;x+y=?", "x = 14, x+y = 24, y = 10"), ("x+1=x+2", "No solution."),
     ("3(x-1)=2x", "x = 3")],
)
def test_solve(equations, expected):
    assert solve(equations) == expected


@pytest.mark.parametrize(
    "bad", ["((x+1)^8)^8=0", "x=__import__('os')", "x.y=1", "1=1", "x^x=2", "x==1", "x+", "", "x=1;" * 7]
)
def test_solve_refuses(bad):
    with pytest.raises(ToolError):
        solve(bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(-50, 50).filter(bool), st.integers(-500, 500), st.integers(-500, 500))
def test_solve_linear_equations(a, b, c):
    x = solve(f"{a}x+({b})={c}").removeprefix("x = ")
    assert abs(float(x) * a + b - c) < 1e-3 * max(1, abs(c))


def test_parse_commands():
    assert parse_commands("None") == []
    assert parse_commands('Search("Kelob city") + Calculate("2+2")') == [
        Command("Search", "Kelob city"), Command("Calculate", "2+2")]
    assert parse_commands(r'Search("say \"hi\"")') == [Command("Search", 'say "hi"')]
    for bad in ["Search(Kelob)", 'Search("x") Calculate("y")', "rm -rf /", 'Search("x") +', 'Search("x"),']:
        with pytest.raises(ToolError):
            parse_commands(bad)


def test_bm25_ranks_the_matching_document_first_and_only_returns_indexed_text():
    docs = ["Kelob lives in Morvik.", "Zorfen likes red apples.", "Kelob 住在 Morvik。", "The weather is mild."]
    index = BM25Index(docs)
    assert index.search("Where does Kelob live?", k=1) == ["Kelob lives in Morvik."]
    assert index.search("Kelob 住在哪里", k=1) == ["Kelob 住在 Morvik。"]
    assert index.search("quantum chromodynamics") == []
    assert set(index.search("Kelob Zorfen red", k=10)) <= set(docs)


def test_toolbox_results_and_errors_go_back_to_the_model():
    box = Toolbox(index=BM25Index(["Kelob lives in Morvik."]), enabled=("Search", "Calculate"))
    assert box.run_all('Calculate("6*7")') == 'Calculate("6*7") => 42'
    assert box.run_all('Search("Kelob")') == 'Search("Kelob") =>\n<|1|>: Kelob lives in Morvik.'
    assert "disabled" in box.run_all('Solve("x=1")')
    assert "unknown tool" in box.run_all('Calculator("1+1")')
    assert box.run_all("None") == "None"
    assert box.run_all('Search("x"').startswith("Error:")


SOLVE_ATTACKS = [
    "x=(((((9^8)^8)^8)^8)^8)^8", "((((x+1)^8)^8)^8)^8=0", "x=" + "9" * 1200, "x=1e999999", "x=10^8^8",
    "x=__import__('os').system('ls')", "x=().__class__", "(lambda: x)()=1", "[x for x in range(10**9)]=1",
    "x=open('/etc/passwd')", "x=y.z", "sin(x)=0", "x=1/0", "x/0=1", "x=" + "-" * 60 + "1",
]


@pytest.mark.parametrize("attack", SOLVE_ATTACKS)
def test_solve_refuses_attacks_and_unbounded_work(attack):
    start = time.perf_counter()
    with pytest.raises(ToolError):
        solve(attack)
    assert time.perf_counter() - start < 3


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789+-*/^().=;xyz_ abc'\"[]", max_size=50))
def test_solve_fuzz_answers_or_refuses(text):
    try:
        result = solve(text)
    except ToolError:
        return
    assert isinstance(result, str) and result


NUMBER = st.integers(-10**4, 10**4).map(str)
OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "^"])


@st.composite
def expressions(draw, depth: int = 0):
    """Random well-formed arithmetic, powers included: the evaluator must answer or refuse, never hang or crash."""
    if depth > 4 or draw(st.booleans()):
        return draw(NUMBER)
    left, right = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    return f"({left}){draw(OPERATORS)}({right})"


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_calculate_structured_fuzz_is_bounded(expression):
    start = time.perf_counter()
    try:
        float(calculate(expression))
    except ToolError:
        pass
    assert time.perf_counter() - start < 1.5


def test_a_tool_that_fails_unexpectedly_returns_an_error_result(monkeypatch):
    import mosslite.tools as tools

    def broken(_):
        raise NotImplementedError("SymPy cannot do that")

    monkeypatch.setattr(tools, "solve", broken)
    assert Toolbox().run_all('Solve("x=1")') == ('Solve("x=1") => Error: Solve failed '
                                                  '(NotImplementedError: SymPy cannot do that)')


def test_search_indexes_a_folder_of_user_text_and_reads_only_that(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "trip.md").write_text("# Trip\n\nThe ferry to Kelob leaves at 7 am.\n\nBring a coat.")
    (tmp_path / "recipe.txt").write_text("Dumplings need flour, water and a filling.")
    (tmp_path / "secret.csv").write_text("password,hunter2")
    index = BM25Index.from_folder(tmp_path)
    assert index.search("when does the ferry leave", k=1) == ["notes/trip.md: The ferry to Kelob leaves at 7 am."]
    assert Toolbox(index=index, enabled=("Search",)).run_all('Search("password")') == 'Search("password") => No result.'
    with pytest.raises(FileNotFoundError, match="no text to index"):
        BM25Index.from_folder(tmp_path / "notes", patterns=("*.rst",))
