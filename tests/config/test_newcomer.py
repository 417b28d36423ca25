"""A newcomer's first hour, through the real CLI: ``init`` on a ``setup.py`` project writes
commands that work in the sandbox, and with ``--provider scripted`` a first issue merges
with nothing edited but ``commands.start``.

Both tests read one first hour (``first_hour``, played once for the module): ``init``,
``doctor`` before the edit, the one edit, and a whole cycle. What init wrote is proven by
doctor and by production's check before the cycle (setup, the tests, the app from the start
command, the hold-out journey in Chromium); the change's own checks after it (the journeys on
the candidate, the sealed validator's verdict, and the smoke run after the merge, which would
set the merged tree up offline again only to start the app for journeys that stand in) stand
in as passed (``journeys_pass``, ``verdicts_pass``, ``checks_passed.smoked``): nothing here
reads them, and ``tests/validate`` runs them for real (the smoke's offline set-up of a
change to what set-up reads: ``test_setup_network.py``). So does the candidate's set-up
again offline (``_candidate_set_up``): nothing runs in its checkout, its tests' pass being
implement's, on the same tree, which that step set up offline with init's command."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.checks_passed import smoked, verdicts_pass
from tests.cli_helpers import Result, run_cli, use_actions
from tests.config.newcomer import Output, newcomer_env, newcomer_project, wheelhouse
from tests.conftest import _every_merge_landed_a_tested_tree, git
from tests.validate.conftest import journeys_pass

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SETUP = "python3 -m venv .venv && .venv/bin/pip install -q -e . -r requirements-dev.txt pytest"
START = '# start: ".venv/bin/python -m notes --port {port}"'


@dataclass(frozen=True)
class FirstHour:
    repo: Path
    state: Path
    plain_init: Result  # init, on a copy of the project as it was
    plain_written: str  # the factory.yaml it wrote
    init: Result  # init --provider scripted
    written: str  # the factory.yaml it wrote, before the edit
    committed: list[str]  # git show --stat of the commit of what init wrote
    doctor: Result  # doctor --json on that commit: commands.start not set yet
    edits: int  # lines changed by the one edit (commands.start, as init suggested it)
    run: Result  # run --once --json after it
    issue: dict[str, Any]  # issue show 1 --json after the run
    on_main: str  # ls-tree --name-only main after the run


def _candidate_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validation's checkout of the candidate moved to it with init's set-up not run there
    again (``evidence.prepare_worktree``): every check on it stands in or is reused."""
    from harness.sandbox.policy import Prepared
    from harness.validate import evidence

    real = evidence.prepare_worktree

    def prepare(settings: Any, path: Path, trusted: str, head: str, fresh: bool = False) -> Any:
        if not path.name.endswith("-candidate"):
            return real(settings, path, trusted, head, fresh)
        GitRepo(path).move_to(head)
        return Prepared(None, None, ())

    monkeypatch.setattr(evidence, "prepare_worktree", prepare)


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture(scope="module")
def first_hour(tmp_path_factory: pytest.TempPathFactory) -> FirstHour:
    root = tmp_path_factory.mktemp("newcomer")
    wheels = wheelhouse(root / "wheelhouse")
    repo = newcomer_project(root, wheels)
    state = root / "state"
    plain = root / "plain" / "notes"
    shutil.copytree(repo, plain)
    with newcomer_env(state), Output() as out, pytest.MonkeyPatch.context() as checks:
        journeys_pass(checks, checks=("candidate",))
        _candidate_set_up(checks)
        use_actions(checks, smoked)
        verdicts_pass(checks)
        plain_init = run_cli(out, "--repo", str(plain), "init")
        init = run_cli(out, "--repo", str(repo), "init", "--provider", "scripted")
        assert init.code == 0, init.err
        config = repo / "factory.yaml"
        written = config.read_text()
        _commit(repo, "factory governance")
        committed = git(repo, "show", "--stat", "--format=", "HEAD").split("\n")
        doctor = run_cli(out, "--repo", str(repo), "doctor", "--json")

        text, edits = re.subn(r"^  # start: ", "  start: ", written, flags=re.M)
        config.write_text(text)  # the one edit: commands.start, as init suggested it
        _commit(repo, "commands.start")
        title = "Rehearsal: the factory's first change"
        args = ("issue", "new", "--title", title, "--body", "Go.")
        res = run_cli(out, "--repo", str(repo), *args)
        assert res.code == 0, res.err
        run = run_cli(out, "--repo", str(repo), "run", "--once", "--json")
        issue = run_cli(out, "--repo", str(repo), "issue", "show", "1", "--json").json()
    _every_merge_landed_a_tested_tree(state / "state.db")
    return FirstHour(
        repo=repo,
        state=state,
        plain_init=plain_init,
        plain_written=(plain / "factory.yaml").read_text(),
        init=init,
        written=written,
        committed=committed,
        doctor=doctor,
        edits=edits,
        run=run,
        issue=issue,
        on_main=git(repo, "ls-tree", "--name-only", "main"),
    )


def test_a_setup_py_project_gets_commands_that_pass_in_the_sandbox(first_hour: FirstHour) -> None:
    res = first_hour.plain_init
    assert res.code == 0 and "project: Python (setup.py)" in res.out, res.out + res.err
    written = first_hour.plain_written
    assert yaml.safe_load(written)["commands"]["setup"] == SETUP
    assert START in written  # the package's name
    # doctor ran these very commands: init --provider scripted writes the same ones
    assert yaml.safe_load(first_hour.written)["commands"] == yaml.safe_load(written)["commands"]
    assert START in first_hour.written

    res = first_hour.doctor
    checks = {c["name"]: c for c in res.json()["checks"]}
    assert checks["setup"]["passed"], checks["setup"]
    assert checks["test"]["passed"] and "1 passed" in checks["test"]["output"], checks["test"]
    # start is the maintainer's to set: doctor says so, and exits 1
    assert res.code == 1 and "commands.start is not set" in checks["start"]["detail"]


def test_a_first_issue_merges_with_the_scripted_answers_init_writes(first_hour: FirstHour) -> None:
    assert first_hour.init.code == 0, first_hour.init.err
    assert "scripted.yaml" in "".join(first_hour.committed)  # committed as init wrote it
    provider = first_hour.doctor.json()["provider"]
    assert provider["ready"] and "scripted answers from" in provider["detail"], provider
    assert first_hour.edits == 1

    res = first_hour.run
    assert res.code == 0, res.out + res.err
    rows = res.json()
    assert [r["decision"] for r in rows["triage"]] == ["accept"], rows
    (validated,) = rows["validate"]
    assert validated["route"] == "merge" and validated["merge_sha"], validated
    # after the one edit, what doctor had left to check passes too: production's own check
    # (setup, the tests, the app from the start command, every hold-out journey in Chromium:
    # the functions doctor runs) was green before the cycle spent anything
    store = Store.open(first_hour.state)
    (health,) = [
        s.outputs for r in store.list_runs(limit=None, workflow="health") for s in store.steps(r.id)
    ]
    store.close()
    assert health["green"] and health["tests_exit_code"] == 0 and not health["cached"], health
    assert health["journeys"] >= 1 and health["journeys_failed"] == 0, health

    issue = first_hour.issue
    assert issue["state"] == "closed" and "factory:merged" in issue["labels"], issue
    assert "FACTORY_REHEARSAL.md" in first_hour.on_main
