"""One copy of each safety rule, read off the source: the bubblewrap command line is built in
``harness/sandbox/bwrap.py``, the lists of hidden paths in ``harness/sandbox/policy.py``, the
kill switch is read in ``check_kill_switch``, spend is compared with a cap in
``harness/engine/budget.py``, and protected paths are matched with one glob dialect."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).resolve().parent
BWRAP = "sandbox/bwrap.py"
POLICY = "sandbox/policy.py"
BWRAP_FLAGS = {
    "bwrap",
    "--bind",
    "--ro-bind",
    "--tmpfs",
    "--unshare-net",
    "--unshare-pid",
    "--die-with-parent",
    "--remount-ro",
    "--cap-add",
}
# what only the hidden-path lists name: the state folder and the hold-out, side by side
PRIVATE = {"state_dir", "holdout_dir"}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text("utf-8"))


def test_the_scan_sees_the_package() -> None:
    names = {name for name, _ in modules()}
    assert {BWRAP, POLICY, "validate/sealed.py", "validate/evidence.py"} <= names


def test_the_bubblewrap_command_line_is_built_in_one_module() -> None:
    found: dict[str, set[str]] = {}
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in BWRAP_FLAGS:
                found.setdefault(name, set()).add(node.value)
    assert set(found) == {BWRAP}, found
    assert {"bwrap", "--ro-bind", "--unshare-net"} <= found[BWRAP]


def _attrs(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def test_the_hidden_paths_are_listed_in_one_module() -> None:
    """A list (or tuple, or set) naming both the state folder and the hold-out is a list of
    what must stay hidden: only the policy builds one."""
    found: dict[str, int] = {}
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and PRIVATE <= _attrs(node):
                found[name] = found.get(name, 0) + 1
    assert set(found) == {POLICY}, found


def test_whatever_hides_paths_takes_them_from_the_policy() -> None:
    """Outside the sandbox package, ``hidden=``/``masked=`` are only passed on (a parameter),
    and the lists come from the policy's functions."""
    calls: dict[str, set[str]] = {}
    for name, tree in modules():
        if name.startswith("sandbox/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in ("hidden", "masked"):
                names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
                calls.setdefault(name, set()).update(names)
    assert calls == {
        "validate/evidence.py": {"sealed_hidden_paths", "services"},
        "validate/sealed.py": {"tuple", "masked", "p"},  # the seal hides what it is given
        "triage/sanitize.py": {"tuple", "dict", "hidden"},  # hidden text, not paths
    }, calls


def _functions(name: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse((PACKAGE / name).read_text("utf-8"))
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _called(node: ast.AST) -> set[str]:
    out: set[str] = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            out.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return out


def test_one_kill_switch_check() -> None:
    """The environment switch and the stop flag are read in ``check_kill_switch`` only; the
    per-turn check of an agent calls it."""
    readers: list[str] = []
    for name, tree in modules():
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            names = {c.value for c in ast.walk(fn) if isinstance(c, ast.Constant)}
            reads_flag = any(
                isinstance(c, ast.Call)
                and getattr(c.func, "attr", "") == "get_flag"
                and any(
                    (isinstance(a, ast.Name) and a.id == "KILL_SWITCH")
                    or (isinstance(a, ast.Constant) and a.value == "stopped")
                    for a in c.args
                )
                for c in ast.walk(fn)
            )
            if "FACTORY_ENABLED" in names or reads_flag:
                readers.append(f"{name}:{fn.name}")
    assert "engine/runner.py:kill_switch_state" in readers
    others = [r for r in readers if not r.startswith("cli/")]  # stop/resume/status set it
    assert others == ["engine/runner.py:kill_switch_state"], readers
    hooks = _functions("engine/agents.py")["before_call"]
    assert "check_kill_switch" in _called(hooks)


def test_one_budget_check() -> None:
    """``BudgetExceeded`` is raised in ``engine/budget.py`` only: the engine's guard and the
    sealed validator's allowance both call its ``check_caps``."""
    raisers = [
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and node.exc is not None
        and "BudgetExceeded" in {getattr(n, "id", "") for n in ast.walk(node.exc)}
    ]
    assert set(raisers) == {"engine/budget.py"}, raisers
    assert "check_caps" in _called(_functions("engine/budget.py")["check"])
    assert "check_caps" in _called(_functions("validate/sealed.py")["before_call"])


def test_one_glob_dialect() -> None:
    """Path patterns are matched by ``harness/config/globs.py`` (pathspec) only: no fnmatch,
    no PurePath.match on repository paths elsewhere (fnmatch on git configuration keys in
    ``git/integrity.py`` matches key names, not paths)."""
    users: dict[str, set[str]] = {}
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                for mod in mods:
                    if mod.split(".")[0] in ("fnmatch", "pathspec", "wcmatch", "glob"):
                        users.setdefault(mod.split(".")[0], set()).add(name)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "full_match":
                users.setdefault("full_match", set()).add(name)
    assert users == {"pathspec": {"config/globs.py"}, "fnmatch": {"git/integrity.py"}}, users


def test_the_start_command_is_filled_in_once_and_checked_once() -> None:
    """``commands.start`` gets its port in one place, and the rule of what it may hold
    (``{port}`` only, checked when factory.yaml is read) has one copy."""
    filled: set[str] = set()
    parsed: set[str] = set()
    for name, tree in modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "format" and any(k.arg == "port" for k in node.keywords):
                filled.add(name)
            if node.func.attr == "Formatter":
                parsed.add(name)
    assert filled == {"validate/evidence.py"}, filled
    assert parsed == {"config/models.py"}, parsed
