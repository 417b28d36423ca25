"""``factory implement`` end to end: real worktrees, sandbox, SDK and stand-in, gates in code.

The good change (``greeted``) runs every gate for real; the tests about another gate or step
stand the security gate's analysers in as having found nothing (``analysers_quiet``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.git.repo import GitRepo
from harness.model.scripted import ScriptedModel, load_script
from harness.store.db import Store
from tests.cli_helpers import Result, run_cli
from tests.factory_repo import RULES
from tests.forge.shared_scenario import Output, isolated_env
from tests.implement.conftest import (
    KEY,
    accepted_issue,
    big_script,
    conflict_retry,
    make_app_repo,
)
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store_reads import pull_requests


def show(capsys, repo: Path, number: int) -> dict:
    return run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json").json()


def implement(capsys, repo: Path, number: int):
    return run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")


def factory_comments(issue: dict) -> list[str]:
    return [c["body"] for c in issue["comments"] if "<!-- factory:" in c["body"]]


# what a hostile title puts in: an issue link, a mention, a link and markup
HOSTILE = "Add a greeting, fixes #1 @admin [x](https://evil.example/p) <b>bold</b>"
SETUP = "mkdir -p deps && echo x > deps/lib.txt && env > setup-env.txt"


@dataclass(frozen=True)
class Greeted:
    repo: Path
    state: Path
    main_before: str
    number: int
    implemented: Result  # implement --json
    issue: dict[str, Any]  # issue show --json after it
    received: list[tuple[Any, Any]]  # every request the stand-in Messages API got
    violations: list[Any]  # and those it found invalid


@pytest.fixture(scope="module")
def greeted(tmp_path_factory: pytest.TempPathFactory) -> Greeted:
    """One good change, for the tests that read it: a greeting function asked for under a
    hostile title, in a repository whose ``commands.setup`` leaves artifacts in the worktree,
    implemented with the stand-in Messages API."""
    root = tmp_path_factory.mktemp("greeted")
    state = root / "state"
    responder = ScriptedModel(load_script(big_script(root)))
    with AnthropicStandIn(responder=responder) as server:
        env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.url}
        with isolated_env(state, **env), Output() as output:
            repo = make_app_repo(root, commands={"setup": SETUP})
            main_before = GitRepo(repo).rev_parse("main")
            assert main_before is not None
            number = accepted_issue(output, repo, HOSTILE)
            res = implement(output, repo, number)
            issue = show(output, repo, number)
    return Greeted(
        repo, state, main_before, number, res, issue, list(server.received), server.violations
    )


def test_a_good_change_becomes_a_pr_with_its_evidence(greeted: Greeted) -> None:
    repo, number, res = greeted.repo, greeted.number, greeted.implemented
    assert res.code == 0, res.err
    out = res.json()
    assert out["status"] == "succeeded" and out["branch"].startswith(f"factory/issue-{number}-")

    store = Store.open(greeted.state)
    (pr,) = pull_requests(store, number)
    assert pr.branch == out["branch"] and pr.state == "open"
    g = GitRepo(repo)
    assert g.changed_paths("main", pr.branch) == ["greet.py", "test_greet.py"]
    assert g.rev_parse(f"refs/heads/{pr.branch}") == pr.head_sha
    assert g.rev_parse("main") == greeted.main_before  # nothing merged, production untouched
    from harness.git.worktrees import WorktreeManager, default_worktree_root

    assert WorktreeManager(g, default_worktree_root(greeted.state)).list() == []  # R9
    for gate in (
        "changed_lines",
        "protected_paths",
        "secrets",
        "tests_green",
        "fix_attempts",
        "budget",
    ):
        assert f"| {gate} | pass |" in pr.body
    assert "python3 -m unittest -q` exited **0**" in pr.body
    assert "Verdict: **approve**" in pr.body and "@\u2060everyone" in pr.body
    assert "mission.md sha256" in pr.body

    issue = greeted.issue
    assert (
        "factory:needs-review" in issue["labels"] and "factory:in-progress" not in issue["labels"]
    )
    opened = [c for c in factory_comments(issue) if "factory:implement:pr" in c]
    assert len(opened) == 1
    # the reviewer sees the tests' result beside the diff, as data
    (review,) = [
        json.dumps(body)
        for _, body in greeted.received
        if "submit_review" in {t["name"] for t in body.get("tools", [])}
        and len(body["messages"]) == 1
    ]
    assert "`python3 -m unittest -q` exited 0" in review and "<test_output>" in review

    # the sandbox hid the key; the path escape came back as a tool error; all requests valid
    assert greeted.violations == []
    everything = json.dumps([body for _, body in greeted.received])
    assert KEY not in everything and KEY[8:28] not in everything
    assert "is outside the repository" in everything or "resolves outside" in everything
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in everything
    for path in greeted.state.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("title", "gate"),
    [
        ("Tidy the footer", "protected_paths"),
        ("Refactor everything", "changed_lines"),
        ("Ship the assets", "size"),
        ("Add a CI job", "protected_paths"),
    ],
)
@pytest.mark.usefixtures("analysers_quiet")
def test_a_gate_failure_means_no_pr_and_needs_human(
    tmp_path: Path, capsys, standin, title: str, gate: str
) -> None:
    repo = make_app_repo(tmp_path)
    before = GitRepo(repo).rev_parse("main")
    rules_before = GitRepo(repo).read_blob("main", "factory_rules.md")
    number = accepted_issue(capsys, repo, title)
    res = implement(capsys, repo, number)
    assert res.code == 1
    assert f"gates failed: {gate}" in res.json()["reason"]
    assert pull_requests(Store.open(tmp_path / "state"), number) == []
    issue = show(capsys, repo, number)
    assert "factory:needs-human" in issue["labels"] and "factory:in-progress" not in issue["labels"]
    (comment,) = [c for c in factory_comments(issue) if "Stopped" in c]
    assert gate in comment and "kept on branch" in comment
    assert GitRepo(repo).rev_parse("main") == before
    assert GitRepo(repo).read_blob("main", "factory_rules.md") == rules_before
    report = run_cli(capsys, "--repo", str(repo), "report", res.json()["run_id"])
    assert re.search(rf"^  FAIL  {gate}: ", report.out, re.M), report.out  # gates come first
    if title == "Add a CI job":  # the exact name, not git's quoted "ci-\303\251.yml"
        assert "touches protected paths: .github/workflows/ci-é.yml (matches .github/**)" in (
            report.out
        )
    if gate == "size":  # the evidence: bytes added and the binary files, by name and size
        assert "6,291,456 bytes added (limit 5,000,000)" in report.out
        assert "files over 1,000,000 bytes: assets/a.bin (3.1 MB), assets/b.bin" in report.out
        assert "binary files: assets/a.bin (3.1 MB), assets/b.bin (3.1 MB)" in report.out
        assert res.json()["reason"].endswith("gates failed: size.")  # 2 lines: changed_lines ok


def test_tests_failing_after_the_fix_attempts_fail_the_issue(
    tmp_path: Path, capsys, standin
) -> None:
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Make it fail")
    res = implement(capsys, repo, number)
    assert res.code == 1
    run_id = res.json()["run_id"]
    issue = show(capsys, repo, number)
    assert "factory:failed" in issue["labels"]
    (comment,) = [c for c in factory_comments(issue) if "Failed" in c]
    assert "still broken" in comment
    report = run_cli(capsys, "--repo", str(repo), "report", run_id)
    assert report.code == 0 and "still broken" in report.out
    steps = run_cli(capsys, "--repo", str(repo), "report", run_id, "--json").json()["steps"]
    assert [s["status"] for s in steps if s["step"] == "test"] == ["failed"] * 3  # 1 + 2 fixes

    # factory retry: back in the queue, with exactly one comment, and only once
    queued = run_cli(capsys, "--repo", str(repo), "queue", "--json")
    assert number not in json.loads(queued.out)
    again = run_cli(capsys, "--repo", str(repo), "retry", str(number))
    assert again.code == 0 and "queued for implementation" in again.out, again.err
    assert number in json.loads(run_cli(capsys, "--repo", str(repo), "queue", "--json").out)
    after = show(capsys, repo, number)
    assert "factory:failed" not in after["labels"] and "factory:accepted" in after["labels"]
    assert len([c for c in after["comments"] if "Queued again" in c["body"]]) == 1
    twice = run_cli(capsys, "--repo", str(repo), "retry", str(number))
    assert twice.code == 2 and "nothing to retry" in twice.err

    # the work the tests failed on is kept on the run's branch, one commit on production
    git = GitRepo(repo)
    kept = git.rev_parse(f"refs/heads/{res.json()['branch']}")
    assert kept is not None and git.rev_parse(f"{kept}^") == git.rev_parse("main")
    assert git.read_blob(kept, "test_broken.py") is not None
    (comment,) = [c for c in factory_comments(issue) if "Failed" in c]
    assert "The work is kept on branch" in comment

    # the next attempt continues from that very work, told what went wrong: the last test
    # output (which describes the tree it now holds), as data
    implement(capsys, repo, number)
    firsts = [
        json.dumps(body)
        for _, body in standin.received
        if "finish" in {t["name"] for t in body.get("tools", [])} and len(body["messages"]) == 1
    ]
    assert "A previous attempt at this issue was refused" not in firsts[0]
    assert "A previous attempt at this issue was refused" in firsts[-1]
    assert "its change is merged onto production as it is now" in firsts[-1]
    assert "You continue from its work: fix what went wrong" in firsts[-1]
    assert "Since then a person (" in firsts[-1] and "hidden user journeys" not in firsts[-1]
    assert "The tests failed; their output" in firsts[-1] and "still broken" in firsts[-1]
    store = Store.open(tmp_path / "state")
    again = store.list_runs(limit=None, workflow="implement", issue=number)[0]
    tree = next(s.outputs for s in store.steps(again.id) if s.step_id == "worktree")
    # that work merged onto production as it is now: one commit on it, holding the work
    assert git.tree_of(tree["start_sha"]) == git.tree_of(kept) and tree["conflicts"] == []
    assert git.rev_parse(f"{tree['start_sha']}^") == tree["base_sha"] == git.rev_parse("main")


def test_a_retry_that_leaves_gits_conflict_markers_is_sent_back_to_resolve_them(
    tmp_path: Path, capsys, standin
) -> None:
    """Production moved under a change: its next attempt starts on it with the change merged
    in, each conflict between git's markers. An implementer that edits above them and leaves
    them is sent back, told where they are, until its fix attempts are spent, and so is the
    next attempt a person asks for (a page showing `<<<<<<<` once passed every gate and the
    validator, and merged, both ways)."""
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Print a footer")
    assert implement(capsys, repo, number).code == 0  # a pull request on production as it was
    (repo / "app.py").write_text("print('notes')\nprint('tagline')\n")
    GitRepo(repo).commit_all("a person prints a tagline where the change prints its footer")
    conflict_retry(Store.open(tmp_path / "state"), repo, number, "a text conflict in app.py")
    res = implement(capsys, repo, number)
    said = "git's conflict markers left in app.py: resolve each conflict"
    assert res.code == 1 and said in res.json()["reason"], res.out
    steps = run_cli(capsys, "--repo", str(repo), "report", res.json()["run_id"], "--json")
    assert [s["status"] for s in steps.json()["steps"] if s["step"] == "test"] == ["failed"] * 3
    told = [json.dumps(body) for _, body in standin.received if "could not be tested" in str(body)]
    assert told and said in told[-1]  # the implementer read where they are
    # a person retries it, production where it was: the next attempt starts on the markers
    # the last one left (no conflict with production now), and is sent back again
    assert run_cli(capsys, "--repo", str(repo), "retry", str(number)).code == 0
    res = implement(capsys, repo, number)
    assert res.code == 1 and said in res.json()["reason"], res.out
    assert len(pull_requests(Store.open(tmp_path / "state"), number)) == 1  # the first alone


@pytest.mark.parametrize(
    ("title", "who", "why"),
    [
        ("Move the rules into the app", "planner", "factory_rules.md, a protected file"),
        ("Send the notes by e-mail", "implementer", "needs the network"),
    ],
)
def test_an_agent_that_declines_hands_the_issue_to_a_person(
    tmp_path: Path, capsys, standin, title: str, who: str, why: str
) -> None:
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, title)
    res = implement(capsys, repo, number)
    assert res.code == 1 and f"the {who} declined" in res.json()["reason"]
    issue = show(capsys, repo, number)
    assert "factory:needs-human" in issue["labels"]
    assert not {"factory:accepted", "factory:in-progress"} & set(issue["labels"])
    (comment,) = [c for c in factory_comments(issue) if "Stopped" in c]
    assert f"the {who} declined" in comment and why in comment
    assert pull_requests(Store.open(tmp_path / "state"), number) == []
    # nothing was tested, so nothing was kept: the comment and a person's retry say so
    assert "Nothing was committed" in comment and "The work is kept" not in comment
    assert run_cli(capsys, "--repo", str(repo), "retry", str(number)).code == 0
    implement(capsys, repo, number)
    planner = [
        json.dumps(body)
        for _, body in standin.received
        if "submit_plan" in {t["name"] for t in body.get("tools", [])}
        and len(body["messages"]) == 1
    ][-1]
    assert "A previous attempt at this issue was refused at implementation" in planner
    assert "You start again from the production branch" in planner
    assert "its changes were never committed" in planner and "You continue" not in planner


def test_budget_reached_mid_loop_stops_cleanly(tmp_path: Path, capsys, standin) -> None:
    cheap = RULES.replace("per_issue_usd: 2.0", "per_issue_usd: 0.03")
    repo = make_app_repo(tmp_path, rules=cheap)
    number = accepted_issue(capsys, repo, "Slow work")
    res = implement(capsys, repo, number)
    assert res.code == 1
    out = res.json()
    assert "per_issue_usd" in out["reason"]
    issue = show(capsys, repo, number)
    assert "factory:needs-human" in issue["labels"]
    assert any("per_issue_usd" in c for c in factory_comments(issue))
    assert GitRepo(repo).branch_exists(out["branch"])  # the work is kept
    store = Store.open(tmp_path / "state")
    assert 0 < store.spend(issue=number) <= 0.03


def test_an_unaccepted_issue_is_refused(tmp_path: Path, capsys, standin) -> None:
    repo = make_app_repo(tmp_path)
    run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", "x", "--body", "y")
    res = implement(capsys, repo, 1)
    assert res.code == 2 and "not an open issue accepted by triage" in res.err
    assert implement(capsys, repo, 99).code == 2


def test_setup_runs_in_the_sandbox_and_its_artifacts_are_not_committed(greeted: Greeted) -> None:
    res = greeted.implemented
    assert res.code == 0, res.err
    store = Store.open(greeted.state)
    (pr,) = pull_requests(store, greeted.number)
    assert GitRepo(greeted.repo).changed_paths("main", pr.branch) == ["greet.py", "test_greet.py"]
    (setup,) = [s for s in store.steps(res.json()["run_id"]) if s.step_id == "setup"]
    assert setup.outputs["exit_code"] == 0
    assert sorted(setup.outputs["artifacts"]) == ["deps", "setup-env.txt"]


@pytest.mark.usefixtures("analysers_quiet")
def test_untrusted_authors_wait_for_a_maintainers_approval(tmp_path: Path, capsys, standin) -> None:
    strict = RULES.replace(
        "trusted_authors: [owner]}", "trusted_authors: [owner], untrusted_requires_label: true}"
    )
    assert strict != RULES
    repo = make_app_repo(tmp_path, rules=strict)
    res = run_cli(
        capsys,
        "--repo",
        str(repo),
        "issue",
        "new",
        "--title",
        "Add a greeting function",
        "--body",
        "Please.",
        "--author",
        "stranger",
        "--json",
    )
    number = int(res.json()["number"])
    assert (
        run_cli(capsys, "--repo", str(repo), "triage", "--json").json()[0]["decision"] == "accept"
    )
    refused = implement(capsys, repo, number)
    assert refused.code == 2 and "factory:approved" in refused.err
    cycle = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
    assert cycle.code == 0 and cycle.json()["implement"] == []  # skipped, not failed
    assert (
        run_cli(capsys, "--repo", str(repo), "issue", "label", str(number), "factory:approved").code
        == 0
    )
    assert implement(capsys, repo, number).code == 0
    assert (
        run_cli(capsys, "--repo", str(repo), "issue", "label", str(number), "bad label").code == 2
    )


def test_the_issue_title_reaches_no_forge_text_live(greeted: Greeted) -> None:
    """A hostile title ends in the PR title, the PR body and the commit message as inert text."""
    from tests.forge.test_neutral import LINKED, assert_inert

    assert greeted.implemented.code == 0, greeted.implemented.err
    (pr,) = pull_requests(Store.open(greeted.state), greeted.number)
    assert not LINKED.search(pr.title) and "<!--" not in pr.title
    assert_inert(pr.body, allow_code=True, own_headings=True)
    message = GitRepo(greeted.repo).git("log", "-1", "--format=%B", pr.head_sha)
    assert not LINKED.search(message) and "fixes #1" not in message


@pytest.mark.slow
@pytest.mark.usefixtures("analysers_quiet")
def test_the_implementer_runs_a_suite_longer_than_one_command_may_take(
    tmp_path: Path, capsys, standin
) -> None:
    """``run_command`` stops at ``commands.command_timeout_s`` and says how to run the suite;
    ``run_tests`` runs ``commands.test`` within ``commands.test_timeout_s``, whole."""
    slow = {"test": "sleep 3 && python3 -m unittest -q", "command_timeout_s": 1}
    repo = make_app_repo(tmp_path, commands=slow)
    number = accepted_issue(capsys, repo, "Run the slow suite")
    res = implement(capsys, repo, number)
    assert res.code == 0, res.err
    asked = [
        body
        for _, body in standin.received
        if "finish" in {t["name"] for t in body.get("tools", [])} and len(body["messages"]) == 3
    ]
    assert {t["name"] for t in asked[0]["tools"]} >= {"run_command", "run_tests"}
    results = {
        block["tool_use_id"]: json.dumps(block["content"])
        for block in asked[0]["messages"][-1]["content"]
        if block.get("type") == "tool_result"
    }
    uses = {
        b["id"]: b["name"] for b in asked[0]["messages"][1]["content"] if b["type"] == "tool_use"
    }
    by_tool = {uses[k]: v for k, v in results.items()}
    assert "[stopped after 1 s, one command's limit" in by_tool["run_command"]
    assert "run_tests" in by_tool["run_command"]
    assert "exited 0" in by_tool["run_tests"] and "OK" in by_tool["run_tests"]


@pytest.mark.usefixtures("analysers_quiet")
def test_the_implementers_first_run_tests_after_an_edit_runs_the_tests_it_touches(
    tmp_path: Path, capsys, standin
) -> None:
    """Asked for no tests, ``run_tests`` runs the test file the plan names first, then (they
    pass) the whole suite; ``factory report`` counts both."""
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Greet, tested as it goes")
    res = implement(capsys, repo, number)
    assert res.code == 0, res.err
    answers = [
        json.dumps(block["content"])
        for _, body in standin.received
        for message in body["messages"][-1:]
        for block in (message["content"] if isinstance(message["content"], list) else [])
        if block.get("type") == "tool_result" and "exited" in json.dumps(block["content"])
    ]
    touched, whole = answers[0], answers[-1]
    assert touched.startswith('"`python3 -m unittest -q test_greet` exited 0'), touched
    assert "touches" in touched and whole.startswith('"`python3 -m unittest -q` exited 0'), whole
    run = run_cli(capsys, "--repo", str(repo), "runs", "--json").json()
    implemented = next(r["id"] for r in run if r["workflow"] == "implement")
    said = run_cli(capsys, "--repo", str(repo), "report", implemented, "--json").json()
    assert said["agent_tests"] == {"touched": 1, "suite": 1}
