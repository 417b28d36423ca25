"""A behavioural test suite every ``Forge`` must pass (the local forge and the GitHub forge run it).

``run_forge_conformance(forge, make_branch)`` exercises issues, labels, comments and pull
requests through the protocol only. ``make_branch(name)`` must create a branch with one new
commit on the forge's repository and return its head SHA, and ``advance(name)`` add one more
commit to it (used to prove stale heads are refused)."""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import FactoryError
from harness.forge.base import Forge, Label, factory_labels

MakeBranch = Callable[[str], str]


class ConformanceFailure(AssertionError):
    """A forge broke the protocol's contract."""


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ConformanceFailure(what)


def check_issues(forge: Forge) -> int:
    created = forge.create_issue("Conformance: a title", "A body.\nTwo lines.", "alice")
    got = forge.get_issue(created.number)
    _check(
        got.title == "Conformance: a title" and got.body.startswith("A body."), "issue round trip"
    )
    _check(got.author == created.author and got.state == "open", "author and state")
    _check(created.number in [i.number for i in forge.list_issues("open")], "listed as open")
    forge.set_issue_state(created.number, "closed")
    _check(forge.get_issue(created.number).state == "closed", "close")
    _check(created.number not in [i.number for i in forge.list_issues("open")], "closed not open")
    forge.set_issue_state(created.number, "open")
    _check(forge.get_issue(created.number).state == "open", "reopen")
    return created.number


def check_labels(forge: Forge, number: int) -> None:
    forge.ensure_labels()
    forge.ensure_labels()  # idempotent
    forge.add_labels(number, [Label.ACCEPTED, "priority:p2"])
    forge.add_labels(number, [Label.ACCEPTED])  # adding twice is a no-op
    labels = set(forge.get_issue(number).labels)
    _check({Label.ACCEPTED, "priority:p2"} <= labels, "labels added")
    forge.remove_labels(number, [Label.ACCEPTED, Label.REJECTED])  # absent one: no-op
    labels = set(forge.get_issue(number).labels)
    _check(Label.ACCEPTED not in labels and "priority:p2" in labels, "label removed")
    _check(set(factory_labels()) >= {Label.ACCEPTED, Label.MERGED}, "label set")


def check_comments(forge: Forge, number: int) -> None:
    first = forge.post_comment(number, "conformance:hello", "**Hello.** First.")
    again = forge.post_comment(number, "conformance:hello", "**Hello.** Second.")
    _check(first.id == again.id, "a marker is posted once")
    _check(forge.is_own(first.author), "the factory's comment is its own")
    _check(not forge.is_own("conformance-stranger"), "a stranger is not the factory")
    marked = [c for c in forge.list_comments(number) if "factory:conformance:hello" in c.body]
    _check(len(marked) == 1, "exactly one comment per marker")
    found = forge.find_comment(number, "conformance:hello")
    _check(found is not None and found.id == first.id, "find by marker")
    _check(forge.find_comment(number, "conformance:absent") is None, "absent marker")


def check_pull_requests(
    forge: Forge, number: int, make_branch: MakeBranch, advance: MakeBranch
) -> None:
    branch = f"factory/issue-{number}-c0ffee00"
    head = make_branch(branch)
    pr = forge.open_pr(number, branch, "main", "Conformance PR", "Body")
    again = forge.open_pr(number, branch, "main", "Conformance PR", "Body")
    _check(pr.number == again.number, "one PR per branch")
    found = forge.find_pr(branch)
    _check(found is not None and found.number == pr.number and found.head_sha == head, "find PR")
    forge.update_pr_body(pr.number, "New body")
    stale = head
    fresh = advance(branch)
    try:
        forge.merge_pr(pr.number, stale)
    except FactoryError:
        pass
    else:
        raise ConformanceFailure("merging with a stale head SHA must be refused")
    other = f"factory/issue-{number}-c0ffee01"
    make_branch(other)
    closed = forge.open_pr(number, other, "main", "Second attempt", "Body")
    forge.close_pr(closed.number)
    forge.close_pr(closed.number)  # idempotent
    found_closed = forge.find_pr(other)
    _check(found_closed is not None and found_closed.state == "closed", "close PR")
    merged = forge.merge_pr(pr.number, fresh)
    _check(bool(merged), "merge returns the merge SHA")
    done = forge.find_pr(branch)
    _check(done is not None and done.state == "merged", "merged state")


def run_forge_conformance(forge: Forge, make_branch: MakeBranch, advance: MakeBranch) -> None:
    number = check_issues(forge)
    check_labels(forge, number)
    check_comments(forge, number)
    check_pull_requests(forge, number, make_branch, advance)
