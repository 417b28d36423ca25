"""The built-in local forge: issues, labels, comments and PR records in SQLite.

Merges go through git."""

from __future__ import annotations

from harness.errors import ForgeError, GitError
from harness.faults import fault_point
from harness.forge.base import (
    Comment,
    PullRequest,
    factory_labels,
    merge_subject,
    refuse_unmergeable,
)
from harness.forge.markers import load_markers
from harness.git.repo import GitRepo
from harness.store.db import Store


class LocalForge:
    """A forge that lives in the state database, for running the factory without GitHub."""

    kind = "local"
    bot_login = "factory[bot]"

    def __init__(self, store: Store, repo: GitRepo) -> None:
        self.markers = load_markers(store.path.parent)
        self.store = store
        self.repo = repo
        # what the state database keeps of issues, comments, PRs and CI, as it keeps it; an
        # author's edit (edit_issue: new title and body, same number) and the local CI, the
        # test command's result on a commit that the engine records (record_ci), besides
        self.list_issues = store.issues
        self.get_issue = store.issue
        self.create_issue = store.insert_issue
        self.edit_issue = store.edit_issue
        self.set_issue_state = store.set_issue_state
        self.list_comments = store.comments
        self.find_pr = store.pr_by_branch
        self.record_ci = store.set_ci
        self.ci_status = store.ci
        self.revert_merge = repo.revert_merge  # the local repository is the forge's

    def is_own(self, login: str) -> bool:
        return login == self.bot_login

    # labels
    def ensure_labels(self) -> None:
        for name, (color, description) in factory_labels().items():
            self.store.upsert_label(name, color, description)

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.store.change_labels(number, add=labels, remove=[])

    def remove_labels(self, number: int, labels: list[str]) -> None:
        self.store.change_labels(number, add=[], remove=labels)

    # comments
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

    def merged_pr(self, sha: str) -> PullRequest | None:
        return None  # the store records every merge

    def request_budget_stop(self, taken: int) -> str | None:
        return None  # no requests, no budget

    def settle(self) -> None:
        return None

    # the production branch: the local repository is the forge's
    def sync(self, branch: str) -> str:
        sha = self.repo.rev_parse(f"refs/heads/{branch}")
        if sha is None:
            raise ForgeError(f"production branch {branch!r} does not exist")
        return sha
