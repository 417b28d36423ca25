"""One copy of each safety rule, read off the source: the bubblewrap command line is built in
``harness/sandbox/bwrap.py``, the lists of hidden paths in ``harness/sandbox/policy.py``, the
kill switch is read in ``check_kill_switch``, spend is compared with a cap in
``harness/engine/budget.py``, and protected paths are matched with one glob dialect."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness
from tests.test_architecture import modules as package_modules

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
pytestmark = pytest.mark.together("package-ast")  # its parse: ``tests/test_architecture.py``'s


@functools.cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:
    """Every module of the package, as parsed once a process (the checks only read the
    trees)."""
    return tuple((name, tree) for name, _, tree in package_modules())


def modules() -> Iterator[tuple[str, ast.Module]]:
    yield from _parsed()


@functools.cache
def _walked() -> tuple[tuple[str, ast.AST], ...]:
    return tuple((name, node) for name, tree in _parsed() for node in ast.walk(tree))


def nodes() -> Iterator[tuple[str, ast.AST]]:
    """Every node of every module (``ast.walk``'s order), with its module's name."""
    yield from _walked()


def test_the_scan_sees_the_package() -> None:
    names = {name for name, _ in modules()}
    assert {BWRAP, POLICY, "validate/sealed.py", "validate/evidence.py"} <= names


def test_the_bubblewrap_command_line_is_built_in_one_module() -> None:
    found: dict[str, set[str]] = {}
    for name, node in nodes():
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
    for name, node in nodes():
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and PRIVATE <= _attrs(node):
            found[name] = found.get(name, 0) + 1
    assert set(found) == {POLICY}, found


def test_whatever_hides_paths_takes_them_from_the_policy() -> None:
    """Outside the sandbox package, ``hidden=``/``masked=`` are only passed on (a parameter),
    and the lists come from the policy's functions."""
    calls: dict[str, set[str]] = {}
    for name, node in nodes():
        if name.startswith("sandbox/"):
            continue
        if isinstance(node, ast.keyword) and node.arg in ("hidden", "masked"):
            names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            calls.setdefault(name, set()).update(names)
    assert calls == {
        "validate/evidence.py": {"sealed_hidden_paths", "services", "settings"},
        "validate/sealed.py": {"hidden"},  # the seal hides what it is given
        "browser/chromium.py": {"hidden"},  # and the browser what its caller gives it
        "browser/confine.py": {"hidden"},
        "triage/sanitize.py": {"tuple", "dict", "hidden"},  # hidden text, not paths
        "triage/prescreen.py": {"hidden"},  # hidden text, not paths (the Screened record)
    }, calls


def _functions(name: str) -> dict[str, ast.FunctionDef]:
    """The module's functions by name, a class's methods also as ``Class.method``."""
    tree = dict(_parsed())[name]
    found = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            found[f"{cls.name}.{fn.name}"] = fn
    return found


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
    for name, fn in nodes():
        if isinstance(fn, ast.FunctionDef):
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
    assert "engine/killswitch.py:kill_switch_state" in readers
    others = [r for r in readers if not r.startswith("cli/")]  # stop/resume set it
    # the flag read by stopped_by (which kill_switch_state and status ask), the environment's
    # switch by kill_switch_state
    assert others == ["engine/killswitch.py:stopped_by", "engine/killswitch.py:kill_switch_state"]
    hooks = _functions("engine/agents.py")["before_call"]
    assert "check_kill_switch" in _called(hooks)


def test_one_budget_check() -> None:
    """``BudgetExceeded`` is raised in ``engine/budget.py`` only: the engine's guard and the
    sealed validator's allowance both call its ``check_caps``."""
    raisers = [
        name
        for name, node in nodes()
        if isinstance(node, ast.Raise)
        and node.exc is not None
        and "BudgetExceeded" in {getattr(n, "id", "") for n in ast.walk(node.exc)}
    ]
    assert set(raisers) == {"engine/budget.py"}, raisers
    assert "check_caps" in _called(_functions("engine/budget.py")["check"])
    assert "check_caps" in _called(_functions("validate/sealed.py")["Allowance.before_call"])


def test_the_sealed_validators_calls_pass_the_engines_checks() -> None:
    """The seal has no model of its own: every call it makes is answered by the harness's
    forwarder through ``checked_call`` with the step's ``StepHooks`` (the one kill-switch
    check, the one budget guard) wrapped in the validator's allowance."""
    assert "checked_call" in _called(_functions("validate/forward.py")["ModelForwarder.answer"])
    assert "StepHooks" in _called(_functions("validate/evidence.py")["_sealed"])
    allowance = _called(_functions("validate/sealed.py")["Allowance.before_call"])
    assert "before_call" in allowance  # the step's hooks first
    assert "checked_call" in _called(_functions("model/agent.py")["AgentLoop.call"])
    builders = {
        name
        for name, node in nodes()
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "build_model"
    }
    assert "validate/sealed.py" not in builders, builders


def test_chromium_is_started_in_one_place() -> None:
    """Playwright launches Chromium in ``browser/chromium.py`` only, always through a
    launcher (the confined one, or the seal's relay to it); the command that enters the
    app's network namespace is built in ``sandbox/app.py`` only."""
    launches: dict[str, list[ast.Call]] = {}
    nsenter: set[str] = set()
    for name, node in nodes():
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "launch"
            and getattr(getattr(node.func, "value", None), "attr", "") == "chromium"
        ):
            launches.setdefault(name, []).append(node)
        if isinstance(node, ast.Constant) and "nsenter" in str(node.value).split("/"):
            nsenter.add(name)
    assert set(launches) == {"browser/chromium.py"}, launches
    (launch,) = launches["browser/chromium.py"]
    given = {k.arg: ast.unparse(k.value) for k in launch.keywords}
    assert given["executable_path"] == "self.launcher" and "env" in given, given
    assert nsenter == {"sandbox/app.py"}, nsenter


def test_one_glob_dialect() -> None:
    """Path patterns are matched by ``harness/globs.py`` (pathspec) only: no fnmatch,
    no PurePath.match on repository paths elsewhere (fnmatch on git configuration keys in
    ``git/integrity.py`` matches key names, not paths)."""
    users: dict[str, set[str]] = {}
    for name, node in nodes():
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            for mod in mods:
                if mod.split(".")[0] in ("fnmatch", "pathspec", "wcmatch", "glob"):
                    users.setdefault(mod.split(".")[0], set()).add(name)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "full_match":
            users.setdefault("full_match", set()).add(name)
    assert users == {
        "pathspec": {"globs.py"},
        "fnmatch": {"git/integrity.py"},
    }, users


def test_ownership_is_handed_to_the_sandbox_in_one_module() -> None:
    """Only ``harness/sandbox/holding.py`` changes who owns a file: the one walk that hands a
    worktree over, and ``give`` for what the harness writes after it."""
    found = {
        name
        for name, node in nodes()
        if isinstance(node, ast.Attribute) and node.attr in ("chown", "lchown", "fchown")
    }
    assert found == {"sandbox/holding.py"}, found


def test_only_the_shape_check_looks_for_nested_git_entries() -> None:
    """The walk for ``.git`` below a worktree's root (before git reads it) is
    ``harness/git/shape.py``'s alone; GitRepo calls it, nothing else re-implements it."""
    found = {
        name
        for name, node in nodes()
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("nested_git", "refuse_nested")
    }
    assert found == {"git/repo.py"}, found


def test_no_code_of_the_repository_gets_the_host_network() -> None:
    """``network=True`` (the host's network) is passed by the egress proxy's own sandbox
    only (the browser's view shares the app's namespace, entered before it starts); ``commands.setup`` is run by
    ``prepare_worktree`` alone, the one place that starts the egress proxy."""
    networked, setups, proxies = set(), set(), set()
    for name, node in nodes():
        if isinstance(node, ast.keyword) and node.arg == "network":
            if isinstance(node.value, ast.Constant) and node.value.value is True:
                networked.add(name)
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called == "EgressProxy":
                proxies.add(name)
            if called == "run" and any(
                isinstance(a, ast.Attribute) and a.attr == "setup" for a in node.args
            ):
                setups.add(name)
    assert networked == {"sandbox/egress.py"}, networked
    assert setups == {POLICY} and proxies == {POLICY}, (setups, proxies)
    functions = _functions(POLICY)
    assert {"EgressProxy", "_set_up"} <= _called(functions["prepare_worktree"])
    assert {"worktree_sandbox", "run"} <= _called(functions["_set_up"])


def test_one_list_of_state_labels_and_one_way_to_end_an_issue() -> None:
    """The labels that say where the factory is with an issue are listed once
    (``forge/base.py``; the dashboard may order all of them for display, never a part), and
    the labels that only ever end an issue (failed, merged,
    rejected) are set by ``set_state`` alone, which takes every other state away with them
    (``factory:accepted`` never stays beside a terminal label)."""
    from harness.forge.base import STATE_LABELS

    lists: set[str] = set()
    enders: set[str] = set()
    ending = {"factory:failed", "factory:merged", "factory:rejected"}
    for name, node in nodes():
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            named = {c.value for c in node.elts if isinstance(c, ast.Constant)}
            if len(named & set(STATE_LABELS)) >= 4 and named != set(STATE_LABELS):
                lists.add(name)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_labels":
            named = {c.value for c in ast.walk(node) if isinstance(c, ast.Constant)}
            if named & ending:
                enders.add(name)
    assert lists == set(), lists
    assert enders == set(), enders
    assert "add_labels" in _called(_functions("forge/base.py")["set_state"])


def test_only_the_git_module_imports_gitpython() -> None:
    """GitPython (``git``) is imported in ``harness/git/env.py`` alone, where every git
    process gets the harness's environment and configuration."""
    users = {
        name
        for name, node in nodes()
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "git" for a in node.names))
        or (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").split(".")[0] == "git"
        )
    }
    assert users == {"git/env.py"}, users


def test_only_the_store_touches_the_database() -> None:
    """SQLite is opened and queried in ``harness/store`` only (the CLI names its error type
    to report a state that failed mid-command): every count, index and outcome the factory
    reads is defined there once."""
    users = {
        name
        for name, node in nodes()
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and "sqlite3" in [a.name for a in node.names] + [getattr(node, "module", None) or ""]
    }
    assert {u for u in users if not u.startswith("store/")} == {"cli/__init__.py"}, users


def _uses(names: set[str]) -> dict[str, set[str]]:
    """Where each of ``names`` is called or validated into (``X(...)``, ``X.model_validate…``,
    ``X.from_outputs``): module -> the names it uses so."""
    found: dict[str, set[str]] = {}
    for name, node in nodes():
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr.startswith(("model_validate", "from_")):
            func = func.value
        if isinstance(func, ast.Name) and func.id in names:
            found.setdefault(name, set()).add(func.id)
    return found


def test_the_seal_is_asked_and_answered_through_one_record_each() -> None:
    """What the seal is given is built in one place (``evidence.sealed_request``) and read back
    in the seal; its answer, with the validator's verdict, is parsed once, where it comes back
    (``run_sealed``): every reader after that gets the types. (Inside the seal, the verdict is
    read once more before it leaves: whether it rests on evidence, or goes back once.)"""
    used = _uses({"SealRequest", "ValidatorRun", "Verdict"})
    assert used == {
        "validate/evidence.py": {"SealRequest"},
        "validate/sealed.py": {"SealRequest", "ValidatorRun", "Verdict"},
    }, used
    assert "sealed_request" in _called(_functions("validate/evidence.py")["run_validator"])
    parsed = _called(_functions("validate/sealed.py")["run_sealed"])
    assert "model_validate_json" in parsed


def test_one_gate_type() -> None:
    """Every gate, implement's and validation's, is a ``GateResult``: no other class has a
    gate's fields."""
    gate_like = {
        f"{name}:{node.name}"
        for name, node in nodes()
        if isinstance(node, ast.ClassDef)
        and {"name", "passed", "evidence"}
        <= {getattr(s.target, "id", "") for s in node.body if isinstance(s, ast.AnnAssign)}
    }
    assert gate_like == {"artifacts/base.py:GateResult"}, gate_like


def test_the_start_command_is_filled_in_once_and_checked_once() -> None:
    """``commands.start`` gets its port in one place, and the rule of what it may hold
    (``{port}`` only, checked when factory.yaml is read) has one copy."""
    filled: set[str] = set()
    parsed: set[str] = set()
    for name, node in nodes():
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr == "format" and "start" in ast.unparse(node.func.value):
            filled.add(name)
        if node.func.attr == "Formatter":
            parsed.add(name)
    assert filled == {"validate/evidence.py"}, filled
    assert parsed == {"config/models.py"}, parsed


def _callers(name: str) -> set[str]:
    """The modules that call ``name`` (as a bare name or an attribute)."""
    return {
        module
        for module, node in nodes()
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == name
    }


def test_one_lease_and_run_helper() -> None:
    """A workflow about an issue runs under the issue's lease (``leased: true``) through
    ``Engine.run`` alone: no other module builds the engine's ``Lease``."""
    assert _callers("Lease") == {"engine/runner.py"}


def test_the_factory_files_its_own_issues_once_in_one_way() -> None:
    """Heal's issues and the audit's go through ``file_once``, the one caller of
    ``create_own_issue``."""
    assert _callers("create_own_issue") == {"forge/base.py"}
    assert {"heal/actions.py", "audit.py"} <= _callers("file_once")


def test_the_agent_roles_are_listed_once() -> None:
    """Only ``config/models.py`` names three roles or more together (``Role``, read as
    ``ROLES``); its ``Models`` gives each role, and only a role, a model."""
    from harness.config.models import ROLES, Models

    role_names = set(ROLES)
    found = {
        name
        for name, node in nodes()
        if isinstance(node, (ast.Tuple, ast.List, ast.Set))
        and len(role_names & {e.value for e in node.elts if isinstance(e, ast.Constant)}) >= 3
    }
    assert found == {"config/models.py"}, found
    assert set(Models.model_fields) - {"escalate"} == role_names
