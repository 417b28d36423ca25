"""GitHub at scale on the stand-in: triage in O(N) requests with its exactly-once guarantees,
a run with nothing new answered ``304``, and a run that stops before the rate limit does.

``ISSUES`` is enough for the listing to take two pages of 100 and for a bound on requests
per issue to be one on the triage, not on its fixed set-up; the benchmark
(``benchmarks/github.py``) measures larger sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.github import github_repo
from tests.cli_helpers import run_cli

ISSUES = 101  # the fewest that take two pages of 100


def _marked(hub, number: int) -> list:
    return [c for c in hub.comments_on(number) if "<!-- factory:triage" in c["body"]]


@pytest.mark.slow
def test_two_pages_of_issues_cost_under_4_requests_each_exactly_once_under_502s(
    tmp_path: Path, capsys
) -> None:
    with github_repo(tmp_path, ISSUES, ISSUES) as (repo, hub):
        hub.fail_next("POST", r"/issues/57/comments$", "502-after")  # written, reported lost
        hub.fail_next("POST", r"/issues/58/labels$", "502-after")
        hub.fail_next("GET", r"/issues$", "5xx", status=502)
        res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
        assert res.code == 0, res.err
        assert sorted(row["issue"] for row in res.json()) == list(range(1, ISSUES + 1))
        assert len(hub.requests) < 4 * ISSUES, len(hub.requests)
        listed = [r for r in hub.requests if r.method == "GET" and r.path.endswith("/issues")]
        assert {r.query.get("page", ["1"])[0] for r in listed} >= {"1", "2"}  # two pages
        assert all(len(_marked(hub, n)) == 1 for n in range(1, ISSUES + 1))
        posts = [r for r in hub.requests if r.method == "POST" and r.path.endswith("/comments")]
        assert len(posts) == ISSUES  # the lost answer was settled by one lookup, not a repeat
        assert all(any(x.startswith("factory:") for x in hub.issues[n].labels) for n in hub.issues)

        # a second run with nothing new: one conditional request, answered 304
        before, not_modified = len(hub.requests), hub.not_modified
        again = run_cli(capsys, "--repo", str(repo), "triage", "--json")
        assert again.code == 0, again.err
        assert again.json() == []
        asked = hub.requests[before:]
        assert 1 <= len(asked) <= 3, [r.path for r in asked]
        assert hub.not_modified - not_modified == len(asked)
        assert all(r.headers.get("if-none-match") for r in asked)

        # something new: only it is read and triaged
        hub.open_issue("Add a dark mode", "Please add a dark mode toggle.", "carol")
        before = len(hub.requests)
        third = run_cli(capsys, "--repo", str(repo), "triage", "--json")
        assert [row["issue"] for row in third.json()] == [ISSUES + 1]
        assert len(hub.requests) - before <= 6, [r.path for r in hub.requests[before:]]


def test_a_nearly_spent_rate_limit_stops_the_run_and_the_next_continues(
    tmp_path: Path, capsys
) -> None:
    with github_repo(tmp_path, 6, 10) as (repo, hub):
        hub.rate_remaining = 24  # the run may spend half: 12 requests
        res = run_cli(capsys, "--repo", str(repo), "triage")
        assert res.code == 1
        (line,) = [x for x in res.err.splitlines() if "budget" in x]
        assert line.startswith("triage stopped: GitHub request budget reached: this run spent")
        assert "next run continues" in line and "Traceback" not in res.err
        done = [n for n in hub.issues if _marked(hub, n)]
        assert 0 < len(done) < 6
        assert hub.rate_remaining >= 12  # stopped well before GitHub would have

        hub.rate_remaining = 5000  # a new hour
        again = run_cli(capsys, "--repo", str(repo), "triage", "--json")
        assert again.code == 0, again.err
        assert sorted(row["issue"] for row in again.json()) == [
            n for n in range(1, 7) if n not in done
        ]
        assert all(len(_marked(hub, n)) == 1 for n in range(1, 7))
