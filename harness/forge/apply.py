"""``factory apply``: carry out a plan made in plan mode, with the forge that may write.

Runs no model and no repository code. Every entry goes through the GitHub forge's own
exactly-once guards, so applying a plan twice writes nothing the second time. A merge is
refused when production is no longer at the SHA it was validated on, and then nothing
else planned for that issue is applied (its PR stays open and is validated again)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from harness.errors import ForgeError, GitError
from harness.forge.journal import PlanEntry, read_plan
from harness.git.bundle import read_bundle

if TYPE_CHECKING:  # PyGithub is imported by whoever builds the forge
    from harness.forge.github import GitHubForge


class Applied(TypedDict, total=False):
    """What one plan entry came to: a row of ``factory apply --json`` (its ``op``, ``issue``
    and ``result`` always; the others when they apply)."""

    op: str
    issue: int | None
    result: str  # done | skipped | refused | already reverted
    why: str  # why it was not done
    comment: int
    pr: int
    merge_sha: str
    revert: str


def apply_plan(forge: GitHubForge, plan_dir: Path) -> list[Applied]:
    """Apply every entry in order; return one row per entry (what happened)."""
    numbers: dict[int, int] = {}  # provisional PR number -> real
    merges: dict[str, str] = {}  # local merge SHA -> GitHub's
    halted: dict[int, str] = {}  # issue -> why its remaining entries are skipped
    pr_issue: dict[int, int] = {}
    refused: set[str] = set()
    rows: list[Applied] = []
    filed: dict[int, int] = {}  # provisional issue number -> real
    for entry in read_plan(plan_dir):
        op = entry.op
        if entry.issue in filed:  # planned on an issue the plan files
            entry = entry.evolve(issue=filed[entry.issue])
        issue = entry.issue or pr_issue.get(entry.pr)
        if issue in halted:
            rows.append({"op": op, "issue": issue, "result": "skipped", "why": halted[issue]})
            continue
        row: Applied = {"op": op, "issue": issue, "result": "done"}
        pr = numbers.get(entry.pr, entry.pr)
        if op == "ensure_labels":
            forge.ensure_labels()
        elif op == "add_labels":
            forge.add_labels(entry.issue, entry.labels)
        elif op == "remove_labels":
            forge.remove_labels(entry.issue, entry.labels)
        elif op == "set_state":
            forge.set_issue_state(entry.issue, entry.state)
        elif op == "comment":  # an issue the plan filed named by GitHub's number, not the plan's
            body = re.sub(r"#(-\d+)\b", lambda m: f"#{filed.get(int(m[1]), m[1])}", entry.body)
            row["comment"] = forge.post_comment(entry.issue, entry.key, body).id
        elif op == "open_pr":
            row["pr"] = numbers[entry.provisional] = _open_pr(forge, plan_dir, entry)
            pr_issue[entry.provisional] = pr_issue[row["pr"]] = entry.issue
        elif op == "pr_body":
            forge.update_pr_body(pr, entry.body)
        elif op == "close_pr":
            forge.close_pr(pr)
        elif op == "merge_pr":
            row.update(_merge(forge, entry, pr, merges))
            if row["result"] != "done":
                halted[issue or 0] = row["why"]
                refused.add(entry.local_merge_sha)
        elif op == "revert":
            row.update(_revert(forge, entry, merges, refused))
        elif op == "create_issue":  # once: an issue of the factory's with this body is it
            own = (i for i in forge.list_issues("all") if forge.is_own(i.author))
            same = next((i for i in own if i.body == entry.body), None)
            made = same or forge.create_issue(entry.title, entry.body, forge.bot_login)
            row["issue"] = filed[entry.provisional] = made.number
        rows.append(row)
    return rows


def _open_pr(forge: GitHubForge, plan_dir: Path, entry: PlanEntry) -> int:
    """The branch from the plan's bundle pushed, and its pull request opened: its number."""
    try:
        read_bundle(forge.repo, plan_dir / entry.bundle, entry.branch, entry.head_sha)
    except GitError as exc:
        raise ForgeError(f"plan entry {entry.seq}: {exc}") from exc
    return forge.open_pr(entry.issue, entry.branch, entry.base, entry.title, entry.body).number


def _revert(
    forge: GitHubForge, entry: PlanEntry, merges: dict[str, str], refused: set[str]
) -> Applied:
    """A recorded revert, unless its merge was never applied or GitHub's branch holds it already."""
    if entry.merge_sha in refused:
        return {"result": "skipped", "why": "its merge was not applied"}
    real = merges.get(entry.merge_sha, entry.merge_sha)
    head = forge.sync(entry.branch)
    if forge.repo.tree_of(head) == entry.tree and head != real:
        return {"result": "already reverted"}
    return {"revert": forge.revert_merge(entry.branch, real, entry.message)}


def _merge(forge: GitHubForge, entry: PlanEntry, number: int, merges: dict[str, str]) -> Applied:
    pr = forge.get_pr(number)
    if pr.state == "merged" and pr.merge_sha:
        merges[entry.local_merge_sha] = pr.merge_sha
        return {"result": "done", "merge_sha": pr.merge_sha}
    production = forge.sync(entry.base)
    if production != entry.base_sha:
        return {
            "result": "refused",
            "why": f"{entry.base} moved from {entry.base_sha[:12]} to {production[:12]} "
            "since validation; the PR stays open and is validated again",
        }
    sha = forge.merge_pr(number, entry.expected_head_sha)
    merges[entry.local_merge_sha] = sha
    landed = forge.repo.tree_of(sha)
    if landed != entry.tree:  # production moved between the check and the merge
        revert = forge.revert_merge(
            entry.base, sha, f"Revert factory merge of PR #{number}: not the tested tree"
        )
        return {
            "result": "refused",
            "merge_sha": sha,
            "revert": revert,
            "why": f"the merge landed tree {str(landed)[:12]}, not the tested "
            f"{entry.tree[:12]}: reverted at once",
        }
    return {"result": "done", "merge_sha": sha}
