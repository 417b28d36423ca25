"""The dashboard's Queue (``harness.reports.issues.queue_view``): every state with its count and one page of its
issues, oldest first; only the issues shown are read further."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.forge.base import Label
from harness.reports import issues as views
from harness.services import Services, open_services
from tests.factory_repo import make_factory_repo

MERGED = str(Label.MERGED)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    """PAGE_SIZE + 2 merged issues and one new one (issue 2), filed in number order."""
    services = open_services(make_factory_repo(tmp_path / "repo"), tmp_path / "state")
    for n in range(1, views.PAGE_SIZE + 4):
        issue = services.forge.create_issue(f"issue {n}", "body", "someone")
        if n != 2:
            services.forge.add_labels(issue.number, [MERGED])
    return services


def _group(groups: list[views.QueueGroup], label: str) -> views.QueueGroup:
    (found,) = [g for g in groups if g.label == label]
    return found


def test_each_state_shows_its_count_and_its_oldest_page(services: Services) -> None:
    merged_numbers = [n for n in range(1, views.PAGE_SIZE + 4) if n != 2]
    groups = views.queue_view(services)
    merged = _group(groups, MERGED)
    assert (merged.count, merged.page, merged.pages) == (views.PAGE_SIZE + 2, 1, 2)
    assert [i.number for i in merged.items] == merged_numbers[: views.PAGE_SIZE]
    new = _group(groups, "new")
    assert (new.count, new.pages, [i.number for i in new.items]) == (1, 1, [2])
    assert _group(groups, str(Label.ACCEPTED)).count == 0
    assert sum(g.count for g in groups) == views.PAGE_SIZE + 3  # every issue in one state

    later = views.queue_view(services, MERGED, 2)
    assert _group(later, MERGED).page == 2
    assert [i.number for i in _group(later, MERGED).items] == merged_numbers[views.PAGE_SIZE :]
    assert [i.number for i in _group(later, "new").items] == [2]  # the others: their first page


@pytest.mark.parametrize(
    ("state", "page", "expected"), [(MERGED, 99, 2), (MERGED, 0, 1), ("no such state", 5, 1)]
)
def test_a_page_out_of_range_shows_the_nearest(
    services: Services, state: str, page: int, expected: int
) -> None:
    assert _group(views.queue_view(services, state, page), MERGED).page == expected


def test_only_the_issues_shown_are_read_further(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    said = services.store.latest_said

    def latest_said(numbers: list[int]) -> dict[int, object]:
        asked.extend(numbers)
        return dict(said(numbers))

    monkeypatch.setattr(services.store, "latest_said", latest_said)
    views.queue_view(services)
    assert sorted(asked) == sorted([2, *[n for n in range(1, views.PAGE_SIZE + 2) if n != 2]])


def test_the_page_links_a_state_s_other_pages(services: Services) -> None:
    """The template's links: page 1 of the merged issues links to page 2, and page 2 back."""
    from harness.serve.app import Dashboard, Session

    board, session = Dashboard(services, "t" * 32, "someone", lambda: services), Session("s", "c")
    first = bytes(board.page("queue.html", session, groups=views.queue_view(services)).body)
    assert b"page 1 of 2" in first
    assert b'href="/queue?state=factory%3Amerged&amp;page=2#state-8"' in first
    assert b'rel="prev"' not in first
    second = views.queue_view(services, MERGED, 2)
    html = bytes(board.page("queue.html", session, groups=second).body)
    assert b"page 2 of 2" in html and b'rel="next"' not in html
    assert b'href="/queue?state=factory%3Amerged&amp;page=1#state-8"' in html


def test_the_kept_states_follow_labels_and_states_as_the_labels_say(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local forge keeps each issue's state on the queue as its labels and its state
    change (``issue_queue``); grouped from every issue's labels (as a snapshot's issues are),
    the pages are the same."""
    forge = services.forge
    forge.add_labels(5, [str(Label.ACCEPTED)])  # beside merged: merged, the first that counts
    forge.add_labels(2, [str(Label.NEEDS_INFO), str(Label.DEFERRED)])  # deferred comes first
    forge.remove_labels(7, [MERGED])
    forge.close_issue(7)  # closed, with no state
    forge.remove_labels(9, [MERGED])  # new, not triaged
    forge.close_issue(8)
    forge.reopen_issue(8)  # still merged
    forge.add_labels(10, [str(Label.REGRESSION)])  # not a state: merged still
    asked = [(None, 1), (MERGED, 2), ("closed", 1)]
    kept = [views.queue_view(services, state, page) for state, page in asked]
    where = {i.number: g.label for g in kept[0] for i in g.items}
    assert [where[n] for n in (2, 5, 7, 8, 9, 10)] == [
        str(Label.DEFERRED),
        MERGED,
        "closed",
        MERGED,
        "new",
        MERGED,
    ]
    monkeypatch.setattr(forge, "kind", "snapshot")  # grouped from every issue's labels
    assert [views.queue_view(services, state, page) for state, page in asked] == kept
