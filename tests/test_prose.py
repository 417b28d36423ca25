"""Code that reads as prose: one statement a line. Two habits pack two statements into one and
are counted here, against the lines of ``harness/``:

- **literal packing**: ``a, b = x, y`` — a tuple of names bound to a tuple written out. Not
  counted: unpacking what a call returns (``head, tail = split(x)``: one value, a pair), and a
  simultaneous update, whose right side reads a name it rebinds (``a, b = b, a + b``: two lines
  would change its meaning);
- **a walrus that only saves a line**: ``if (x := f()) is None:`` in an ``if`` statement's test,
  where it is evaluated whenever the ``if`` is reached (not behind ``and`` / ``or``, not in an
  ``elif``), so ``x = f()`` on the line above means the same. Not counted: a walrus in a
  ``while`` test, a comprehension or an ``elif``, or behind a short circuit, where a statement
  of its own would change what is evaluated or need another level of nesting.

Together they stay at or below 6 per 1,000 lines (docs/development.md)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator

from tests.test_architecture import modules

LIMIT_PER_THOUSAND_LINES = 6


def literal_packings(tree: ast.AST) -> Iterator[int]:
    """The lines of ``a, b = x, y`` that are not a simultaneous update."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Tuple):
            continue
        if not any(isinstance(target, ast.Tuple) for target in node.targets):
            continue
        bound = {name for target in node.targets for name in _bound(target)}
        read = {ast.unparse(n) for n in ast.walk(node.value) if isinstance(n, _PLACES)}
        if not bound & read:
            yield node.lineno


_PLACES = (ast.Name, ast.Attribute, ast.Subscript)  # what an assignment may bind


def _bound(target: ast.expr) -> Iterator[str]:
    """What ``target`` binds, each place whole: ``self.a`` (not ``self``), ``row[0]``."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _bound(element)
    elif isinstance(target, ast.Starred):
        yield from _bound(target.value)
    else:
        yield ast.unparse(target)


def _always_evaluated(test: ast.expr) -> Iterator[ast.expr]:
    """The parts of an expression evaluated whenever the expression is: all but what a short
    circuit (``and``, ``or``, a chained comparison, a conditional) may skip."""
    yield test
    if isinstance(test, ast.BoolOp):
        yield from _always_evaluated(test.values[0])
    elif isinstance(test, ast.Compare):
        yield from _always_evaluated(test.left)
        yield from _always_evaluated(test.comparators[0])
    elif isinstance(test, ast.UnaryOp):
        yield from _always_evaluated(test.operand)
    elif isinstance(test, ast.BinOp):
        yield from _always_evaluated(test.left)
        yield from _always_evaluated(test.right)
    elif isinstance(test, ast.Call):
        for part in [test.func, *test.args, *(k.value for k in test.keywords)]:
            yield from _always_evaluated(part)
    elif isinstance(test, (ast.Attribute, ast.Starred)):
        yield from _always_evaluated(test.value)
    elif isinstance(test, ast.Subscript):
        yield from _always_evaluated(test.value)
        yield from _always_evaluated(test.slice)


def line_saving_walruses(tree: ast.AST) -> Iterator[int]:
    """The lines of a walrus in an ``if`` statement's test (an ``elif`` excepted) that is
    evaluated whenever the test is."""
    elifs: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.If):
            continue
        elifs |= {
            id(child)
            for child in node.orelse
            if isinstance(child, ast.If) and child.col_offset == node.col_offset
        }
        if id(node) in elifs:
            continue
        for part in _always_evaluated(node.test):
            if isinstance(part, ast.NamedExpr):
                yield part.lineno


@functools.cache
def _found() -> tuple[int, tuple[str, ...]]:
    """The lines of ``harness/``, and each packed statement as ``file:line``."""
    lines = 0
    packed: list[str] = []
    for name, path, tree in modules():  # parsed once a process
        lines += len(path.read_text("utf-8").splitlines())
        found = [*literal_packings(tree), *line_saving_walruses(tree)]
        packed += [f"{name}:{line}" for line in sorted(found)]
    return lines, tuple(packed)


def test_one_statement_a_line() -> None:
    lines, packed = _found()
    rate = len(packed) * 1000 / lines
    assert rate <= LIMIT_PER_THOUSAND_LINES, (
        f"{len(packed)} packed statements in {lines} lines ({rate:.2f} per 1,000): {packed}"
    )


def test_the_packing_check_finds_literal_packing() -> None:
    tree = ast.parse(
        "a, b = x, y\n"  # counted: two unrelated values
        "(c, d), e = (1, 2), 3\n"  # counted: nested
        "f, g = pair()\n"  # a call's pair, unpacked
        "h, i = i, h\n"  # a swap
        "j, k = k, j + k\n"  # a simultaneous update
        "m = n, o\n"  # one tuple, one name
        "self.a, self.b = x, y\n"  # counted: an object's fields are names too
        "self.a, self.b = self.c, 1\n"  # counted: it reads the object, not what it rebinds
        "self.a, self.b = self.b, self.a\n"  # a swap of two fields
    )
    assert list(literal_packings(tree)) == [1, 2, 7, 8]


def test_the_packing_check_finds_a_walrus_that_only_saves_a_line() -> None:
    tree = ast.parse(
        "if (a := f()) is None:\n"  # 1 counted
        "    pass\n"
        "elif (b := g()):\n"  # 3 an elif
        "    pass\n"
        "if not (c := h(x)).ok and (d := i()):\n"  # 5 c counted, d behind `and`
        "    pass\n"
        "while (e := j()):\n"  # 7 a loop
        "    pass\n"
        "k = [m for n in o if (m := p(n))]\n"  # 9 a comprehension
        "if q:\n"
        "    pass\n"
        "else:\n"
        "    if (r := s()):\n"  # 13 an `if` of its own
        "        pass\n"
        "if t(u := v()):\n"  # 15 an argument, always evaluated
        "    pass\n"
    )
    assert sorted(line_saving_walruses(tree)) == [1, 5, 13, 15]
