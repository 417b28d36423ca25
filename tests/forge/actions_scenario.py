"""The workflows ``factory init --ci github-actions`` writes, run job after job as GitHub
Actions runs them (``tests/actions_runner.py``) against the GitHub stand-in: the helpers of
the tests that run them, and the one scenario they read (``landed`` then ``healed``, made
once per worker: every module that reads it is marked ``together("github-actions")``).

``landed``: the maintainer's set-up pushed (the hold-out, with a journey carrying a canary,
in a repository of its own), then the nightly triage workflow: planned by a read-only job
and applied (then applied again, on a fresh state); issue 1, the one queued, implemented in
plan mode on a runner that has no triage state, and applied; validated in plan mode with the
implement job's hand-off; merged by the apply-merge job; production's health checked after
the landing. What GitHub held after the triage, after the validation and after the landing
is kept (``seen``) for a test to fork.

``healed``: on a GitHub forked from the landed one, the maintainer makes the canary's journey
fail on production (the factory's landed change breaks it); the health workflow finds it red,
bisects to the factory's merge, and its revert is validated and lands."""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.git.repo import GitRepo
from tests.actions_runner import Runner
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.forge.conftest import notes_on_github
from tests.forge.github_helpers import _MACHINERY, TOKEN, forked, github_env
from tests.forge.shared_scenario import MARKER_KEY, Output, isolated_env
from tests.standins.github_standin import GitHubStandIn

SETUP = "python3 -c 'print(\"set up\")'"  # something setup runs, through the egress proxy
PINNED = f"git+https://github.com/example/dark-factory-harness@{'0' * 40}"
WORKFLOWS = Path(".github") / "workflows"

CANARY = "HOLDOUT-CANARY-5e41d0c9"
# the canary in the journey's name, a step (the note it types), an expected text, and on the
# page: after the note is added, every screenshot of the page shows it
KEEPS = (
    f"name: keeps a note {CANARY}\n"
    "steps:\n"
    "  - goto: /\n"
    f"  - fill: {{label: Note, value: {CANARY}}}\n"
    "  - click: {role: button, name: Add}\n"
    f"  - expect_text: {CANARY}\n"
)
# the maintainer's edit, which the factory's merge (the note count) then fails
NO_COUNT = KEEPS + "  - expect_no_text: 1 notes\n"


def runner(where: Path, hub: Any, name: str, holdout: Path) -> Path:
    """A fresh checkout, as a new job on a new runner gets it."""
    home = where / name
    home.mkdir()
    git(home, "clone", "-q", str(hub.bare), "notes")
    shutil.copytree(holdout, home / "notes-holdout")
    return home / "notes"


def someone_pushes_to_production(where: Path, hub: Any, holdout: Path) -> None:
    other = runner(where, hub, "someone", holdout)
    (other / "NOTICE").write_text("moved\n")
    git(other, "add", "NOTICE")
    git(other, "commit", "-qm", "a human change")
    git(other, "push", "-q", "origin", "main")


def factory(capsys: Any, repo: Path, state: Path, *args: str, code: int = 0) -> Any:
    os.environ["FACTORY_STATE_DIR"] = str(state)
    try:
        res = run_cli(capsys, "--repo", str(repo), *args)
    finally:
        os.environ.pop("FACTORY_STATE_DIR")
    assert res.code == code, (res.out, res.err)
    return res


def plan_ops(plan: Path) -> list[str]:
    return [json.loads(x)["op"] for x in (plan / "plan.jsonl").read_text().splitlines()]


def on_actions(output: Any, repo: Path, hub: GitHubStandIn, holdout: Path, setup: str) -> None:
    """What a maintainer does: ``factory init --ci github-actions`` beside the files that
    exist, a ``commands.setup`` (so the jobs need the egress proxy), pushed; the hold-out in
    a repository of its own."""
    args = ("init", "--ci", "github-actions", "--package", PINNED)
    done = run_cli(output, "--repo", str(repo), *args)
    assert done.code == 0, done.err
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["setup"] = setup
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "The factory's workflows")
    git(repo, "push", "-q", str(hub.bare), "main")
    copied = holdout.parent / "holdout-repo"
    shutil.copytree(holdout, copied)
    git(copied, "init", "-q", "-b", "main")
    git(copied, "add", "-A")
    git(copied, "commit", "-qm", "journeys")
    git(
        copied.parent,
        "clone",
        "-q",
        "--bare",
        str(copied),
        str(hub.git_root / "acme" / "app-holdout.git"),
    )


def actions(root: Path, hub: GitHubStandIn, **options: object) -> Runner:
    return Runner(
        root, hub.server_url, hub.api_url, hub.repository, TOKEN, f"dark-factory-harness @ {PINNED}",
        secrets={"FACTORY_MARKER_KEY": MARKER_KEY, "FACTORY_HOLDOUT_TOKEN": TOKEN},
        variables={"FACTORY_HOLDOUT_REPOSITORY": "acme/app-holdout"},
        bare=hub.bare,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def frozen(hub: GitHubStandIn, where: Path) -> Any:
    """What ``hub`` holds now, for ``forked`` to serve again later."""
    shutil.copytree(hub.git_root, where)
    data = {k: copy.deepcopy(v) for k, v in vars(hub).items() if k not in _MACHINERY}
    return SimpleNamespace(**data, git_root=where)


def artifact(runner: Runner, prefix: str) -> Path:
    assert runner.artifacts is not None
    (found,) = runner.artifacts.glob(f"{prefix}*")
    return found


def validator_and_learned_checks_pass() -> None:
    """In each ``factory`` command of the nightly triage's jobs: the validate job's sealed
    validator stands in as passed (``tests/checks_passed.py``: its verdict for the question
    it was asked, a seal, an app and a browser for none), and so do the learned checks its
    smoke run tries (the verdict's quotes, replayed twice each before they are adopted).
    Nothing here reads them: the validator is never shown the hold-out, so no canary can
    reach its verdict, and the learned checks live in that job's checkout of the hold-out,
    which no later job sees; the canary's journey runs in Chromium at every check."""
    from tests.checks_passed import verdicts_pass
    from tests.validate.conftest import journeys_pass

    journeys_pass(pytest.MonkeyPatch(), journeys=False)
    verdicts_pass(pytest.MonkeyPatch())


@dataclass(frozen=True)
class Landed:
    repo: Path  # the maintainer's checkout: its .github/workflows
    holdout: Path  # the hold-out's folder (the canary's journey in it)
    plans: Path  # triage/, impl/ and val/: the jobs' plans
    entry: dict[str, Any]  # the implement plan's open_pr
    seen: dict[str, Any]  # what GitHub held at each point, by name (forkable ones frozen)
    work: Runner  # the runner the triage workflow's jobs ran on


def play_landed(root: Path) -> Landed:
    holdout = root / "notes-holdout"
    seen: dict[str, Any] = {}
    with (
        notes_on_github(root) as (repo, hub),
        isolated_env(root / "state", **github_env(hub)),
        Output() as output,
    ):
        # one journey, the canary's: it does what the demo's does (add a note, see it)
        (holdout / "journeys" / "add_note.yaml").unlink()
        (holdout / "journeys" / "keeps_a_note.yaml").write_text(KEEPS)
        on_actions(output, repo, hub, holdout, SETUP)

        def look(job: str) -> None:
            if job == "factory-triage.yml:plan":
                seen["writes after the triage job"] = len(hub.writes())
            elif job == "factory-triage.yml:apply":
                seen["labels after triage"] = {n: list(hub.issues[n].labels) for n in (1, 2)}
                seen["writes after triage"] = len(hub.writes())
                again = runner(root, hub, "apply-triage", holdout)
                plan = artifact(work, "factory-triage-plan")
                factory(output, again, root / "fresh-state", "apply", str(plan))
                seen["writes after triage applied twice"] = len(hub.writes())
                seen["triaged"] = frozen(hub, root / "triaged")
            elif job == "factory-work.yml:implement":
                seen["writes after the implement job"] = len(hub.writes())
                seen["pulls after the implement job"] = len(hub.pulls)
                seen["pushed by the implement job"] = any(
                    r.path.endswith("/git-receive-pack") for r in hub.requests
                )
            elif job == "factory-work.yml:apply-pr":
                seen["pulls after implement"] = {n: p.head for n, p in hub.pulls.items()}
                seen["heads after implement"] = {
                    p.head: GitRepo(hub.bare).rev_parse(f"refs/heads/{p.head}")
                    for p in hub.pulls.values()
                }
            elif job == "factory-work.yml:validate":
                seen["merged after the validate job"] = [p.merged for p in hub.pulls.values()]
                seen["tree before the landing"] = GitRepo(hub.bare).tree_of("main")
                seen["validated"] = frozen(hub, root / "validated")

        work = actions(root / "work", hub, after=look, before=validator_and_learned_checks_pass)
        results = work.workflow(repo / WORKFLOWS / "factory-triage.yml")
        assert all(r["ok"] for r in results.values()), "\n".join(work.log)
        ran = [job.split(":")[1] for job in work.jobs]
        assert ran == [
            *("plan", "apply", "implement", "apply-pr", "validate", "apply-merge"),
            *("health", "apply"),
        ], ran
        seen["landed"] = frozen(hub, root / "landed")
    plans = root / "plans"
    plans.mkdir()
    (plans / "triage").symlink_to(artifact(work, "factory-triage-plan"))
    (plans / "impl").symlink_to(artifact(work, "factory-implement-"))
    (plans / "val").symlink_to(artifact(work, "factory-validate-"))
    (entry,) = [
        json.loads(x)
        for x in (plans / "impl" / "plan.jsonl").read_text().splitlines()
        if '"open_pr"' in x
    ]
    return Landed(repo, holdout, plans, entry, seen, work)


@dataclass(frozen=True)
class Healed:
    hub: Any  # what GitHub held once the health jobs were done (every request since set-up)
    heal: Runner  # the runner the health workflow's jobs ran on
    results: dict[str, Any]  # the health workflow's results by job id
    main: str | None  # production's tip then
    tree: str | None  # and its tree


def play_healed(landed: Landed, root: Path) -> Healed:
    with (
        forked(landed.seen["landed"], root) as hub,
        isolated_env(root / "state", **github_env(hub)),
    ):
        journeys = root / "holdout-journeys"
        git(root, "clone", "-q", str(hub.git_root / "acme" / "app-holdout.git"), str(journeys))
        (journeys / "journeys" / "keeps_a_note.yaml").write_text(NO_COUNT)
        git(journeys, "commit", "-qam", "no count on the page")
        git(journeys, "push", "-q", "origin", "main")
        heal = actions(root / "heal", hub)
        results = heal.workflow(landed.repo / WORKFLOWS / "factory-health.yml")
        production = GitRepo(hub.bare)
        main, tree = production.rev_parse("main"), production.tree_of("main")
        return Healed(frozen(hub, root / "healed"), heal, results, main, tree)
