"""The built-in local forge: issues, labels, comments and PR records in SQLite.

Merges go through git."""

from __future__ import annotations

from harness.errors import ForgeError, GitError
from harness.faults import fault_point
from harness.forge.base import (
    Comment,
    Forge,
    Issue,
    IssueState,
    PullRequest,
    factory_labels,
    merge_subject,
    refuse_unmergeable,
)
from harness.forge.markers import load_markers
from harness.git.repo import GitRepo
from harness.store.db import Store


class LocalForge(Forge):
    """A forge that lives in the state database, for running the factory without GitHub."""

    kind = "local"
    bot_login = "factory[bot]"

    def __init__(self, store: Store, repo: GitRepo) -> None:
        self.markers = load_markers(store.path.parent)
        self.store = store
        self.repo = repo

    def is_own(self, login: str) -> bool:
        return login == self.bot_login

    # issues
    def list_issues(self, state: str) -> list[Issue]:
        return self.store.issues(state)

    def get_issue(self, number: int) -> Issue:
        return self.store.issue(number)

    def create_issue(self, title: str, body: str, author: str) -> Issue:
        return self.store.insert_issue(title, body, author)

    def edit_issue(self, number: int, title: str, body: str) -> None:
        """What an author's edit does on GitHub: new title and body, same number."""
        self.store.edit_issue(number, title, body)

    def set_issue_state(self, number: int, state: IssueState) -> None:
        self.store.set_issue_state(number, state)

    # labels
    def ensure_labels(self) -> None:
        for name, (color, description) in factory_labels().items():
            self.store.upsert_label(name, color, description)

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.store.change_labels(number, add=labels, remove=[])

    def remove_labels(self, number: int, labels: list[str]) -> None:
        self.store.change_labels(number, add=[], remove=labels)

    # comments
    def list_comments(self, number: int) -> list[Comment]:
        return self.store.comments(number)

    def find_comment(self, number: int, key: str) -> Comment | None:
        found = self.store.comment_by_marker(number, self.markers.tag(number, key))
        if found is None or not self.is_own(found.author):
            return None
        return found if self.markers.owns(found.body, number, key) else None

    def post_comment(self, number: int, key: str, body: str) -> Comment:
        tag = self.markers.tag(number, key)
        posted = self.store.insert_comment(number, self.bot_login, f"{tag}\n{body}", tag)
        fault_point("forge.comment.posted")  # posted, its run's record not yet written
        return posted

    # pull requests
    def find_pr(self, branch: str) -> PullRequest | None:
        return self.store.pr_by_branch(branch)

    def open_pr(self, issue: int, branch: str, base: str, title: str, body: str) -> PullRequest:
        existing = self.store.pr_by_branch(branch)
        if existing is not None:
            return existing
        head = self.repo.rev_parse(f"refs/heads/{branch}")
        if head is None:
            raise ForgeError(f"cannot open a PR: branch {branch!r} does not exist")
        return self.store.insert_pr(issue, branch, base, head, title, body)

    def update_pr_body(self, number: int, body: str) -> None:
        self.store.update_pr(number, body=body)

    def close_pr(self, number: int) -> None:
        if self.store.pr(number).state == "open":
            self.store.update_pr(number, state="closed")

    def record_ci(self, sha: str, state: str) -> None:
        """The local forge's CI: the engine records the test command's result on a commit."""
        self.store.set_ci(sha, state)

    def ci_status(self, sha: str) -> str:
        return self.store.ci(sha)

    def merge_pr(self, number: int, expected_head_sha: str) -> str:
        pr = self.store.pr(number)
        if pr.state == "merged" and pr.merge_sha:
            return pr.merge_sha
        head = self.repo.rev_parse(f"refs/heads/{pr.branch}") if pr.state == "open" else None
        refuse_unmergeable(pr, expected_head_sha, head)
        try:
            merged = self.repo.merge_branch(
                pr.base, pr.branch, expected_head_sha, merge_subject(pr)
            )
        except GitError as exc:
            raise ForgeError(f"pull request {number}: {exc}") from exc
        self.store.update_pr(number, state="merged", merge_sha=merged, head_sha=head)
        return merged

    # merged_pr, request_budget_stop, settle: the protocol's (the store records every merge;
    # no requests, no budget, nothing to settle)

    # the production branch: the local repository is the forge's
    def sync(self, branch: str) -> str:
        sha = self.repo.rev_parse(f"refs/heads/{branch}")
        if sha is None:
            raise ForgeError(f"production branch {branch!r} does not exist")
        return sha

    def revert_merge(self, branch: str, merge_sha: str, message: str) -> str:
        return self.repo.revert_merge(branch, merge_sha, message)
