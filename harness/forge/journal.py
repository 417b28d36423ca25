"""Plan mode (docs/github.md): a forge that reads from GitHub and writes nothing, recording
every write in a plan that ``factory apply`` carries out later with its own exactly-once
guards. Later reads in the same process see the planned writes; a PR has a provisional,
negative number until it is applied."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import Field, ValidationError, model_validator

from harness.artifacts import Artifact, PrCandidate
from harness.errors import ConfigError, ForgeError, GitError
from harness.forge.base import Comment, Issue, IssueState, PullRequest, refuse_unmergeable
from harness.git.bundle import write_bundle
from harness.git.repo import GitRepo
from harness.paths import shipped_yaml

if TYPE_CHECKING:  # PyGithub takes a quarter second to import: only forge: github needs it
    from harness.forge.github import GitHubForge

PLAN_FILE = "plan.jsonl"
HANDED = "state"  # beside it: the state the next job starts from (``hand_off``)


class PlanEntry(Artifact):
    """One planned write, a line of ``PLAN_FILE``: its operation and the fields it needs,
    the others left at their defaults (``issue`` 0: none; a provisional number is negative)."""

    seq: int
    op: str  # one of ``workflows/forge/plan.yaml``'s, with every field it is written with
    issue: int = 0
    labels: list[str] = Field(default_factory=list)
    state: IssueState = "open"
    key: str = ""
    title: str = ""
    body: str = ""
    provisional: int = 0
    pr: int = 0
    branch: str = ""
    base: str = ""
    base_sha: str = ""
    head_sha: str = ""
    bundle: str = ""  # the pushed branch's bundle, under the plan's folder
    expected_head_sha: str = ""
    local_merge_sha: str = ""  # the merge as planned; GitHub's has another SHA
    tree: str = ""  # the tree a planned merge or revert lands
    merge_sha: str = ""
    revert_sha: str = ""
    message: str = ""

    @model_validator(mode="after")
    def _written_whole(self) -> PlanEntry:
        needs = shipped_yaml("forge", "plan.yaml").get(self.op)
        if needs is None:
            raise ValueError(f"no operation {self.op!r}")
        if missing := set(needs) - self.model_fields_set:
            raise ValueError(f"{self.op} without {', '.join(sorted(missing))}")
        return self


def read_plan(plan_dir: Path) -> list[PlanEntry]:
    """Every entry of the plan in ``plan_dir``, in order: what ``factory apply`` carries out,
    and what plan mode takes up again when it plans into a folder that holds a plan (a line
    that is not a plan entry: ``ConfigError``, its line named)."""
    path = plan_dir / PLAN_FILE
    if not path.is_file():
        raise ConfigError(str(path), "plan", "no such file (make one with 'factory --plan DIR …')")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(PlanEntry.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(str(path), f"line {number}", f"not JSON: {exc.msg}") from exc
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            raise ConfigError(str(path), f"line {number}", f"not a plan entry: {why}") from exc
    return entries


class PrEdits(TypedDict, total=False):
    """What planned writes changed of a pull request."""

    body: str
    state: str
    merge_sha: str


class JournalForge:
    kind = "github"

    def __init__(self, inner: GitHubForge, repo: GitRepo, plan_dir: Path) -> None:
        self.inner = inner
        self.markers = inner.markers
        # what plan mode reads, GitHub answers as it is: nothing of these is planned
        self.is_own = inner.is_own
        self.ci_status = inner.ci_status
        self.merged_pr = inner.merged_pr
        self.request_budget_stop = inner.request_budget_stop
        self.settle = inner.settle
        self.repo = repo
        self.plan_dir = plan_dir
        self.plan_dir.mkdir(parents=True, exist_ok=True)
        (plan_dir / PLAN_FILE).touch()  # a run with nothing to write plans nothing: apply does so
        self._lock = threading.RLock()
        self._labels: dict[int, dict[str, bool]] = {}  # label -> added (True) or removed
        self._states: dict[int, str] = {}
        self._comments: dict[tuple[int, str], Comment] = {}
        self._prs: dict[str, PullRequest] = {}  # by branch
        self._pr_edits: dict[int, PrEdits] = {}
        self._heads: dict[str, str] = {}  # branch -> head after a planned merge or revert
        self._filed: dict[int, Issue] = {}  # a planned new issue, by its provisional number
        self._seq = 0
        for entry in read_plan(plan_dir):
            self._replay(entry)

    @property
    def bot_login(self) -> str:
        return self.inner.bot_login

    # the plan ------------------------------------------------------------------------
    def _record(self, op: str, **fields: Any) -> None:
        with self._lock:
            self._seq += 1
            line = json.dumps({"seq": self._seq, "op": op, **fields}, sort_keys=True)
            entry = PlanEntry.model_validate_json(line)  # read as ``factory apply`` reads it
            with (self.plan_dir / PLAN_FILE).open("a", encoding="utf-8") as out:
                out.write(line + "\n")
            self._replay(entry)

    def _replay(self, entry: PlanEntry) -> None:
        op = entry.op
        self._seq = max(self._seq, entry.seq)
        if op in ("add_labels", "remove_labels"):
            marks = self._labels.setdefault(entry.issue, {})
            marks.update(dict.fromkeys(entry.labels, op == "add_labels"))
        elif op == "set_state":
            self._states[entry.issue] = entry.state
        elif op == "comment":
            body = f"{self.markers.tag(entry.issue, entry.key)}\n{entry.body}"
            comment = Comment(-entry.seq, self.bot_login, body, "")
            self._comments[(entry.issue, entry.key)] = comment
        elif op == "open_pr":
            self._prs[entry.branch] = PullRequest(
                entry.provisional,
                entry.issue,
                entry.branch,
                entry.base,
                entry.head_sha,
                entry.title,
                entry.body,
                state="open",
            )
        elif op == "pr_body":
            self._pr_edits.setdefault(entry.pr, {})["body"] = entry.body
        elif op == "close_pr":
            self._pr_edits.setdefault(entry.pr, {})["state"] = "closed"
        elif op == "merge_pr":
            edits = self._pr_edits.setdefault(entry.pr, {})
            edits["state"] = "merged"
            edits["merge_sha"] = entry.local_merge_sha
            self._heads[entry.base] = entry.local_merge_sha
        elif op == "revert":
            self._heads[entry.branch] = entry.revert_sha
        elif op == "create_issue":
            number = entry.provisional
            filed = Issue(number, entry.title, entry.body, self.bot_login, "open", (), "", "")
            self._filed[number] = filed

    # issues ----------------------------------------------------------------------------
    def _overlay(self, issue: Issue) -> Issue:
        marks = self._labels.get(issue.number, {})  # a label planned on or off: as planned
        labels = tuple(sorted(x for x in {*issue.labels, *marks} if marks.get(x, True)))
        return replace(issue, labels=labels, state=self._states.get(issue.number, issue.state))

    def list_issues(self, state: str) -> list[Issue]:
        issues = [self._overlay(i) for i in [*self.inner.list_issues("all"), *self._filed.values()]]
        return [i for i in issues if state == "all" or i.state == state]

    def get_issue(self, number: int) -> Issue:
        found = self._filed.get(number)
        return self._overlay(found if found is not None else self.inner.get_issue(number))

    def create_issue(self, title: str, body: str, author: str) -> Issue:
        """A new issue of the factory's, numbered provisionally (negative) until applied."""
        with self._lock:
            self._record("create_issue", provisional=-(self._seq + 1), title=title, body=body)
            return self._filed[-self._seq]

    def set_issue_state(self, number: int, state: IssueState) -> None:
        if self.get_issue(number).state != state:
            self._record("set_state", issue=number, state=state)

    # labels ----------------------------------------------------------------------------
    def ensure_labels(self) -> None:
        self._record("ensure_labels")

    def add_labels(self, number: int, labels: list[str]) -> None:
        current = set(self.get_issue(number).labels)
        missing = [x for x in labels if x not in current]
        if missing:
            self._record("add_labels", issue=number, labels=missing)

    def remove_labels(self, number: int, labels: list[str]) -> None:
        current = set(self.get_issue(number).labels)
        present = [x for x in labels if x in current]
        if present:
            self._record("remove_labels", issue=number, labels=present)

    # comments --------------------------------------------------------------------------
    def list_comments(self, number: int) -> list[Comment]:
        planned = [c for (n, _), c in self._comments.items() if n == number]
        return [*(self.inner.list_comments(number) if number > 0 else []), *planned]

    def find_comment(self, number: int, key: str) -> Comment | None:
        planned = self._comments.get((number, key))
        return planned or (self.inner.find_comment(number, key) if number > 0 else None)

    def post_comment(self, number: int, key: str, body: str) -> Comment:
        found = self.find_comment(number, key)
        if found is None:
            self._record("comment", issue=number, key=key, body=body)
            found = self._comments[(number, key)]
        return found

    # pull requests ---------------------------------------------------------------------
    def _edited(self, pr: PullRequest) -> PullRequest:
        return replace(pr, **self._pr_edits.get(pr.number, {}))

    def find_pr(self, branch: str) -> PullRequest | None:
        pr = self._prs.get(branch) or self.inner.find_pr(branch)
        return self._edited(pr) if pr else None

    def _by_number(self, number: int) -> PullRequest:
        planned = next((pr for pr in self._prs.values() if pr.number == number), None)
        return self._edited(planned or self.inner.get_pr(number))

    def open_pr(self, issue: int, branch: str, base: str, title: str, body: str) -> PullRequest:
        found = self.find_pr(branch)
        if found is not None and found.state == "open":
            return found
        head, base_sha = self.repo.commits(f"refs/heads/{branch}", f"refs/heads/{base}")
        if head is None or base_sha is None:
            raise ForgeError(f"cannot plan a PR: branch {branch!r} or {base!r} does not exist")
        bundle = f"bundles/{head}.bundle"
        write_bundle(self.repo, branch, base_sha, self.plan_dir / bundle)
        provisional = -(len(self._prs) + 1)
        self._record(
            "open_pr",
            provisional=provisional,
            issue=issue,
            branch=branch,
            base=base,
            base_sha=base_sha,
            head_sha=head,
            title=title,
            body=body,
            bundle=bundle,
        )
        return self._prs[branch]

    def update_pr_body(self, number: int, body: str) -> None:
        self._record("pr_body", pr=number, issue=self._by_number(number).issue, body=body)

    def close_pr(self, number: int) -> None:
        pr = self._by_number(number)
        if pr.state == "open":
            self._record("close_pr", pr=number, issue=pr.issue)

    def merge_pr(self, number: int, expected_head_sha: str) -> str:
        pr = self._by_number(number)
        if pr.state == "merged" and pr.merge_sha:
            return pr.merge_sha
        refuse_unmergeable(pr, expected_head_sha, pr.head_sha)
        base_sha = self.sync(pr.base)
        try:
            local = self.repo.merge_commit(
                base_sha, expected_head_sha, f"Merge {pr.branch}: {pr.title}"
            )
        except GitError as exc:
            raise ForgeError(
                f"pull request {number}: {pr.branch} conflicts with {pr.base}"
            ) from exc
        self._record(
            "merge_pr",
            pr=number,
            issue=pr.issue,
            base=pr.base,
            base_sha=base_sha,
            expected_head_sha=expected_head_sha,
            local_merge_sha=local,
            tree=self.repo.tree_of(local),
        )
        return local

    def hand_off(self) -> None:
        """What the job after this plan's needs of its state, in ``plan_dir/state``: the runs
        that made the pull requests the plan opens (their ``PrCandidate``, which validating
        them reads), and nothing else of this state (never a hold-out journey or result)."""
        store = self.inner.store
        runs = {
            run
            for pr in self._prs.values()
            for run, candidate in store.artifacts(PrCandidate, pr.issue)
            if candidate.branch == pr.branch
        }
        if runs:
            store.hand_off(self.plan_dir / HANDED, sorted(runs))

    # the production branch -------------------------------------------------------------
    def sync(self, branch: str) -> str:
        """A planned merge or revert is the branch's head from here on; no ref moves."""
        return self._heads.get(branch) or self.inner.sync(branch)

    def revert_merge(self, branch: str, merge_sha: str, message: str) -> str:
        if self.sync(branch) != merge_sha:
            raise GitError(f"revert: {branch} moved past {merge_sha[:12]}; revert it by hand")
        revert = self.repo.revert_commit(merge_sha, message)
        self._record(
            "revert",
            branch=branch,
            merge_sha=merge_sha,
            revert_sha=revert,
            message=message,
            tree=self.repo.tree_of(revert),
        )
        return revert
