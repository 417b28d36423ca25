"""Caches the runs share belong to ``Services`` (one ``Caches`` object), not to modules, and
plan mode travels as an argument, never through the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harness
from harness.caches import PROCESS, Caches, Memo
from harness.errors import ConfigError, UsageError
from harness.model.ratelimit import Limiters
from harness.services import open_services
from tests.factory_repo import git
from tests.test_architecture import modules

PACKAGE = Path(harness.__file__).resolve().parent
pytestmark = pytest.mark.together("package-ast")  # its parse: ``tests/test_architecture.py``'s


def _module_level_mutables(tree: ast.Module) -> list[str]:
    """Names bound at module level to a dict, list or set (a display or a call)."""
    found: list[str] = []
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        mutable = isinstance(value, (ast.Dict, ast.List, ast.Set)) or (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in ("dict", "list", "set", "defaultdict", "OrderedDict")
        )
        if mutable:
            found += [t.id for t in targets if isinstance(t, ast.Name)]
    return found


@pytest.mark.parametrize(
    "name", ["model/factory.py", "model/ratelimit.py", "engine/loader.py", "services.py"]
)
def test_no_module_level_cache(name: str) -> None:
    tree = ast.parse((PACKAGE / name).read_text("utf-8"))
    assert _module_level_mutables(tree) == []


def test_the_check_finds_a_module_level_cache() -> None:
    tree = ast.parse("_SEEN: dict[str, int] = {}\nNAMES = ('a',)\n_ALL = set()\n")
    assert _module_level_mutables(tree) == ["_SEEN", "_ALL"]


def test_nothing_writes_the_environment() -> None:
    """Options such as ``--plan`` are passed on as arguments: no module sets a variable."""
    writes: list[str] = []
    for _, path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else []
                if isinstance(node, ast.AugAssign):
                    targets = [node.target]
                for t in targets:
                    if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ":
                        writes.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called in ("os.putenv", "os.unsetenv") or (
                    called.startswith("os.environ.")
                    and called.split(".")[-1] in ("pop", "update", "setdefault", "clear")
                ):
                    writes.append(f"{path.name}:{node.lineno}")
    assert writes == []


def test_memo_makes_each_value_once_and_keeps_none() -> None:
    memo: Memo[str | None] = Memo(limit=2)
    made: list[str] = []

    def make(value: str | None) -> str | None:
        made.append(str(value))
        return value

    assert memo.get("a", lambda: make(None)) is None
    assert memo.get("a", lambda: make("other")) is None  # an absent file is remembered too
    assert memo.get("b", lambda: make("b")) == "b"
    assert made == ["None", "b"] and len(memo) == 2
    memo.get("c", lambda: make("c"))  # over the limit: starts over
    assert len(memo) == 1


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    from harness.demo import generate

    path, _, _ = generate(tmp_path)
    return path


def test_services_share_the_process_caches_unless_given_their_own(
    repo: Path, tmp_path: Path
) -> None:
    first = open_services(repo, tmp_path / "state", "scripted")
    second = open_services(repo, tmp_path / "state", "scripted")
    assert first.caches is second.caches is PROCESS
    own = Caches()
    third = open_services(repo, tmp_path / "state", "scripted", caches=own)
    assert third.caches is own and own is not PROCESS


def test_an_override_is_read_once_per_commit_into_the_services_caches(
    repo: Path, tmp_path: Path
) -> None:
    from harness.engine.loader import read_override

    (repo / ".factory" / "workflows").mkdir(parents=True)
    (repo / ".factory" / "workflows" / "note.j2").write_text("first")
    git(repo, "add", "-f", ".factory/workflows/note.j2")
    git(repo, "commit", "-qm", "an override")
    caches = Caches()
    services = open_services(repo, tmp_path / "state", "scripted", caches=caches)
    assert read_override(services, "note.j2") == "first"
    assert read_override(services, "absent.j2") is None
    assert len(caches.overrides) == 1  # the commit's .factory/, read whole
    read_override(services, "note.j2")
    assert len(caches.overrides) == 1  # the same commit: nothing read again


def test_an_override_over_the_limit_is_refused_not_skipped(repo: Path, tmp_path: Path) -> None:
    from harness.engine.loader import MAX_OVERRIDE_BYTES, read_override

    (repo / ".factory" / "workflows").mkdir(parents=True)
    (repo / ".factory" / "workflows" / "big.j2").write_text("x" * (MAX_OVERRIDE_BYTES + 1))
    git(repo, "add", "-f", ".factory/workflows/big.j2")
    git(repo, "commit", "-qm", "a big override")
    services = open_services(repo, tmp_path / "state", "scripted", caches=Caches())
    with pytest.raises(ConfigError, match=r"big\.j2: \(file\): over 1,048,576 bytes"):
        read_override(services, "big.j2")  # never the shipped one in its place, silently


def test_an_override_that_is_not_text_is_one_line(repo: Path, tmp_path: Path) -> None:
    from harness.engine.loader import read_override

    (repo / ".factory" / "workflows").mkdir(parents=True)
    (repo / ".factory" / "workflows" / "bin.j2").write_bytes(b"\xff\xfe\x00")
    git(repo, "add", "-f", ".factory/workflows/bin.j2")
    git(repo, "commit", "-qm", "a binary override")
    services = open_services(repo, tmp_path / "state", "scripted", caches=Caches())
    with pytest.raises(ConfigError, match=r"bin\.j2: \(file\): not UTF-8 text"):
        read_override(services, "bin.j2")


def test_the_runs_of_one_commit_share_their_templates_and_a_new_commit_reads_its_own(
    repo: Path, tmp_path: Path
) -> None:
    caches = Caches()
    (repo / ".factory" / "workflows").mkdir(parents=True)
    (repo / ".factory" / "workflows" / "note.j2").write_text("first {{ n }}")
    git(repo, "add", "-f", ".factory/workflows/note.j2")
    git(repo, "commit", "-qm", "an override")
    first = open_services(repo, tmp_path / "state", "scripted", caches=caches)
    second = open_services(repo, tmp_path / "state", "scripted", caches=caches)
    assert first.templates is second.templates  # compiled once for every run of the commit
    assert second.templates.render("note.j2", n=1) == "first 1"
    (repo / ".factory" / "workflows" / "note.j2").write_text("second {{ n }}")
    git(repo, "commit", "-qam", "the override edited")
    third = open_services(repo, tmp_path / "state", "scripted", caches=caches)
    assert third.templates is not first.templates
    assert third.templates.render("note.j2", n=2) == "second 2"
    assert first.templates.render("note.j2", n=3) == "first 3"  # its commit's, still


def test_anthropic_clients_are_shared_through_the_caches(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.model.factory import build_model
    from harness.model.retry import RetryPolicy

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    caches, policy = Caches(), RetryPolicy()
    one = build_model(
        "anthropic", script=None, record=None, replay=None, retry=policy, caches=caches
    )
    assert (
        build_model(
            "anthropic", script=None, record=None, replay=None, retry=RetryPolicy(), caches=caches
        )
        is one
    )
    assert (
        build_model(
            "anthropic", script=None, record=None, replay=None, retry=policy, caches=Caches()
        )
        is not one
    )
    other = build_model(
        "anthropic",
        script=None,
        record=None,
        replay=None,
        retry=RetryPolicy(max_retries=1),
        caches=caches,
    )
    assert other is not one
    # built when first asked, one rate limiter per endpoint
    assert other.client.limiter is one.client.limiter  # type: ignore[attr-defined]
    assert len(caches.part(Limiters)) == 1


def test_plan_mode_is_an_argument_of_open_services(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="plan mode is for forge: github"):
        open_services(repo, tmp_path / "state", "scripted", plan=tmp_path / "plan")


def test_the_plan_variable_is_read_by_the_command_line_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FACTORY_PLAN_DIR`` is ``--plan``'s default, read once by the command line and handed
    on as an argument like the option itself."""
    from tests.cli_helpers import run_cli
    from tests.factory_repo import make_factory_repo

    repo = make_factory_repo(tmp_path / "r")
    monkeypatch.setenv("FACTORY_PLAN_DIR", str(tmp_path / "p"))
    res = run_cli(capsys, "--repo", str(repo), "triage")
    assert res.code == 2 and "plan mode is for forge: github" in res.err
    res = run_cli(capsys, "--repo", str(repo), "apply", str(tmp_path / "p"))
    assert res.code == 2 and "apply: --plan makes no sense here" in res.err


def test_a_module_keeps_one_part_per_process_and_reset_starts_it_over() -> None:
    class Seen(Memo[int]):
        """A module's own state, as a class of its own."""

    caches = Caches()
    seen = caches.part(Seen)
    seen.put("a", 1)
    assert caches.part(Seen) is seen and seen.peek("a") == 1
    seen.drop("a")
    assert seen.peek("a") is None and len(seen) == 0
    seen.put("b", 2)
    caches.reset()  # as a new process finds it
    assert caches.part(Seen) is not seen and caches.part(Seen).peek("b") is None


def test_the_action_table_is_read_from_the_marked_functions_once() -> None:
    from harness.engine.actions import ActionTable, actions, declared
    from harness.validate.merge import merge

    table = actions()
    assert table is actions() and isinstance(table, ActionTable)
    info = declared(merge)
    assert info is not None and table.functions[info.name] is merge
    assert table.declared["validate.merge"].produces.__name__ == "Landing"
