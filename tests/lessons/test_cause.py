"""Lessons by cause, on a repository the factory maintains: two changes that each added a
dependency, refused by the security and network_allow gates and rejected by a person citing
"No new dependencies", are one lesson and one proposal; its pull request shows the edit as a
diff, ``factory diff --lesson`` prints it, and its rehearsal says how few past cases the
cause touches (the factory's merge of a help page, a fixed case, is none of them); the
factory's merges are cases by its records, never by the merge commit's words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.artifacts import GateResult, Validation
from harness.backtest.cases import history_cases
from harness.cli.common import state_dir
from harness.services import open_services
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import RULES, git, make_factory_repo
from tests.heal.conftest import land
from tests.store_reads import pull_requests

NO_DEPS = "No new dependencies"
RULE = "- Every dependency the project uses is already in requirements.txt."
GATES = "gate:network_allow + gate:security + rule:factory_rules.md: No new dependencies"


def _answer(output: str, match: str, **given: Any) -> dict[str, Any]:
    return {"output": output, "match": match, "turns": [[{"tool": output, "input": given}]]}


SCRIPT = [
    _answer(
        "submit_governance_edit",
        "network_allow",
        file="factory_rules.md",
        old_text="",
        new_text=RULE,
        title="Dependencies stay as they are",
        why="Two changes added a dependency; both were refused.",
    ),
    _answer(
        "submit_triage",
        "help page",
        decision="reject",
        priority="p3",
        kind="docs",
        reason="Not what this app is for.",
        acceptance_criteria=[],
    ),
]


def refused(store: Store, issue: int, gates: tuple[str, ...]) -> None:
    """What validation keeps of a change whose gates sent it to a person."""
    failed = [GateResult(name=g, passed=False, evidence=f"{g}: adds leftpad") for g in gates]
    said = {"reason": "a person decides", "score": 0.95, "verdict": "pass", "fix_attempts": 0}
    decided = Validation(route="needs_review", gates=failed, implement_run="r", pr=1, **said)
    run = store.create_run("validate", issue, {}, {})
    seq = store.start_step(run.id, "decide", {})
    store.finish_step(seq, "succeeded", decided.model_dump(), artifact="Validation")
    store.set_run_status(run.id, "succeeded")


def cli(capsys, repo: Path, *args: str) -> Any:
    res = run_cli(capsys, "--repo", str(repo), *args)
    assert res.code == 0, res.err
    return res.json() if "--json" in args else res.out


def test_one_cause_is_one_lesson_one_proposal_rehearsed_on_the_factorys_merge(
    tmp_path: Path, capsys
) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT))
    rules = RULES.replace("---\n", "---\nlessons: {cases: 2}\n", 1) + f"- {NO_DEPS}.\n"
    provider = {"type": "scripted", "script": str(script)}
    repo = make_factory_repo(tmp_path / "repo", provider=provider, rules=rules)
    state = state_dir(repo)
    helped, merged = land(repo, state, "Add a help page", {"help.txt": "Press Add.\n"})
    assert git(repo, "log", "-1", "--format=%s", merged).startswith("Merge factory/issue-")

    services = open_services(repo, state)
    for title in ("Colour notes with chroma-lib", "Parse dates with dateutil"):
        number = services.forge.create_issue(title, "Please.", "owner").number
        refused(services.store, number, ("security", "network_allow"))
        services.forge.add_labels(number, ["factory:needs-review"])
        reason = f"factory_rules.md: {NO_DEPS}"
        cli(capsys, repo, "reject", str(number), "--reason", reason, "--by", "ann")

    (lesson,) = [x for x in cli(capsys, repo, "lessons", "--json") if not x["stale"]]
    assert (lesson["about"], lesson["independent"], lesson["proposable"]) == (GATES, 2, True)
    assert len(lesson["citations"]) == 6  # two gates and a person, on each of two issues
    table = cli(capsys, repo, "lessons")  # the terminal's table: the lesson and its state
    assert GATES in table and "proposable" in table and "gathering" not in table

    (row,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert (row["status"], row["about"]) == ("succeeded", GATES)
    # the factory's merge of a help page is a fixed case, but not one this cause touches
    assert helped in [c.issue for c in history_cases(services)]
    assert row["rehearsal"]["cases"] == []
    assert row["rehearsal"]["few"] == "0 past cases touch this cause; lessons.cases asks for 2"
    pr = services.forge.find_pr(row["branch"])
    assert pr is not None
    edit, words = pr.body.index("## The edit"), pr.body.index("## The learner's words")
    assert edit < pr.body.index(f"+{RULE}") < words
    assert "--- a/factory_rules.md" in pr.body
    shown = cli(capsys, repo, "diff", "--lesson", str(pr.number))
    assert f"+{RULE}" in shown and f"# PR {pr.number} ({row['branch']})" in shown

    assert cli(capsys, repo, "lessons", "propose", "--json")[0].get("pr") is None
    # two more changes refused by the security gate alone: the gate's lesson, on four issues
    # now, two of them new, rests on refusals the open proposal cites: not proposable while
    # that proposal is open, though two issues no proposal took would be evidence enough
    news = []
    for title in ("Add pandas", "Add numpy"):
        news.append(more := services.forge.create_issue(title, "Please.", "owner").number)
        refused(services.store, more, ("security",))
    found = {x["about"]: x for x in cli(capsys, repo, "lessons", "--json")}
    gate = found["gate:security"]
    assert (gate["independent"], gate["proposal"], gate["proposable"]) == (4, "open", False)
    assert cli(capsys, repo, "lessons", "propose", "--json")[0].get("pr") is None
    assert [p.number for p in pull_requests(services.store)] == [1, pr.number]
    # a third gate refuses an issue the open proposal rests on and a new one: no citation of
    # its is the proposal's, but one of its two issues is taken: one is no evidence
    cited = {c["issue"] for c in lesson["citations"]}
    refused(services.store, min(cited), ("tests_kept",))
    refused(services.store, news[0], ("tests_kept",))
    found = {x["about"]: x for x in cli(capsys, repo, "lessons", "--json")}
    kept = found["gate:tests_kept"]
    assert (kept["independent"], kept["proposal"], kept["proposable"]) == (2, None, False)
    # the proposal closed: its issues are free again for other causes; the security lesson,
    # on issues beyond the closed one's, is back; the closed one's own cause is not
    services.forge.close_pr(pr.number)
    found = {x["about"]: x for x in cli(capsys, repo, "lessons", "--json")}
    assert found["gate:tests_kept"]["proposable"] is True
    assert (found["gate:security"]["proposal"], found["gate:security"]["proposable"]) == (
        "closed",
        True,
    )
    rest = found["gate:network_allow + rule:factory_rules.md: No new dependencies"]
    assert (rest["independent"], rest["proposal"], rest["proposable"]) == (2, "closed", False)
    services.store.close()


def test_the_factorys_merges_are_cases_by_its_records_alone(tmp_path: Path) -> None:
    """A merge is a case by the state's landing records: the same history read with a fresh
    state (a new runner) holds none, whatever its merge commits say; a commit that says
    ``Fixes #N`` still is one."""
    repo = make_factory_repo(tmp_path / "repo")
    helped, _ = land(repo, state_dir(repo), "Add a help page", {"help.txt": "Press Add.\n"})
    kept = open_services(repo, state_dir(repo))
    assert [c.issue for c in history_cases(kept)] == [helped]
    kept.store.close()
    fresh = open_services(repo, tmp_path / "fresh")
    number = fresh.forge.create_issue("Add a help page", "Please.", "owner").number
    assert number == helped and history_cases(fresh) == []
    git(repo, "commit", "-q", "--allow-empty", "-m", f"Help text\n\nFixes #{number}")
    assert [c.issue for c in history_cases(fresh)] == [number]
    fresh.store.close()
