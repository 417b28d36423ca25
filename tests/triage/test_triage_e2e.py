"""Triage end to end: the real CLI, the real anthropic SDK, the stand-in Messages API over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.triage.conftest import API_KEY, EXPECTED, ISSUES, make_repo


def file_issues(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    for author, title, body in ISSUES:
        res = run_cli(
            capsys,
            "--repo",
            str(repo),
            "issue",
            "new",
            "--title",
            title,
            "--body",
            body,
            "--author",
            author,
        )
        assert res.code == 0, res.err


def show(capsys: pytest.CaptureFixture[str], repo: Path, number: int) -> dict[str, object]:
    res = run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json")
    assert res.code == 0, res.err
    data: dict[str, object] = res.json()
    return data


def factory_comments(issue: dict[str, object]) -> list[str]:
    comments = issue["comments"]
    assert isinstance(comments, list)
    return [c["body"] for c in comments if "<!-- factory:" in c["body"]]


def test_triage_decides_labels_and_comments_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    standin = anthropic_env
    repo = make_repo(tmp_path)
    file_issues(capsys, repo)

    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    decisions = {row["issue"]: row for row in res.json()}
    assert set(decisions) == set(EXPECTED)

    for number, label in EXPECTED.items():
        issue = show(capsys, repo, number)
        labels = issue["labels"]
        assert isinstance(labels, list)
        assert label in labels, (number, labels)
        assert len([x for x in labels if str(x).startswith("factory:")]) == 1, labels
        comments = factory_comments(issue)
        assert len(comments) == 1, (number, comments)
        # the comment leads with the decision and cites the rule
        body = comments[0].split("-->", 1)[1].strip()
        assert body.startswith("**Triage: "), body
        assert "Rule: " in body
        assert issue["state"] == ("closed" if label == "factory:rejected" else "open"), issue

    accepted = show(capsys, repo, 1)
    assert "priority:p2" in accepted["labels"] and "kind:feature" in accepted["labels"]
    assert "Dark mode" in factory_comments(accepted)[0]
    # on GitHub its marker and its signed spec are hidden: each an HTML comment on a line of
    # its own, an HTML block as CommonMark (GitHub's Markdown) reads it, never text
    from markdown_it import MarkdownIt

    posted = factory_comments(accepted)[0]
    hidden = [t.content for t in MarkdownIt("commonmark").parse(posted) if t.type == "html_block"]
    assert [h.split()[1][:12] for h in hidden] == ["factory:tria", "factory-spec"], hidden
    assert posted.count("<!--") == 2 and all(h.strip().endswith("-->") for h in hidden)
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", "1").out  # as GitHub shows it
    assert "**Triage: " in shown and "<!--" not in shown and "factory-spec" not in shown
    rejected = factory_comments(show(capsys, repo, 2))[0]
    assert "mission.md: Out of scope" in rejected
    assert "@everyone" not in rejected and "@\u2060everyone" in rejected  # bot output neutralised
    assert "closes \\#\u20601" in rejected and "closes #1" not in rejected
    assert "20,000" in factory_comments(show(capsys, repo, 4))[0]
    assert "HTML comment" in factory_comments(show(capsys, repo, 5))[0]
    assert "limit" in factory_comments(show(capsys, repo, 10))[0]

    # the model saw only the issues the pre-screen let through: 1, 2, 3, 7, 8, 9
    assert len(standin.received) == 6
    assert standin.violations == []
    for headers, body in standin.received:
        system = body["system"]
        assert "## Out of scope" in system[0]["text"] and "# Technical context" in system[0]["text"]
        assert system[0].get("cache_control") == {"type": "ephemeral"}
        assert API_KEY not in json.dumps(body)
        # the hidden comment of issue 5 never reached a model
        assert "ignore your rules" not in json.dumps(body)

    # re-running changes nothing and calls no model
    again = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert again.code == 0 and again.json() == []
    assert len(standin.received) == 6
    for number in EXPECTED:
        assert len(factory_comments(show(capsys, repo, number))) == 1

    runs = run_cli(capsys, "--repo", str(repo), "runs", "--json").json()
    assert len(runs) == 10 and {r["status"] for r in runs} == {"succeeded"}
    assert set(runs[0]) >= {
        "id",
        "workflow",
        "issue",
        "status",
        "started_at",
        "finished_at",
        "cost_usd",
        "input_tokens",
        "output_tokens",
    }
    paid = [r for r in runs if r["issue"] in (1, 2, 3, 7, 8, 9)]
    assert all(r["cost_usd"] > 0 and r["input_tokens"] > 0 for r in paid)
    assert all(r["cost_usd"] == 0 for r in runs if r["issue"] in (4, 5, 6, 10))


def test_api_key_is_nowhere_on_disk_or_in_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    repo = make_repo(tmp_path, {"type": "anthropic", "record": str(tmp_path / "rec")})
    file_issues(capsys, repo)
    res = run_cli(capsys, "--repo", str(repo), "triage")
    assert res.code == 0, res.err
    assert API_KEY not in res.out + res.err
    searched = 0
    for root in (tmp_path / "state", tmp_path / "rec", repo):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert API_KEY.encode() not in data, path
                assert API_KEY[10:30].encode() not in data, path
                searched += 1
    assert searched > 5
    for headers, body in anthropic_env.received:
        carrying = [k for k, v in headers.items() if API_KEY in v]
        assert carrying and set(carrying) <= {"x-api-key", "authorization"}, carrying


def test_recorded_triage_replays_offline_to_the_same_decisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env, monkeypatch
) -> None:
    recordings = tmp_path / "recordings"
    repo = make_repo(tmp_path, {"type": "anthropic", "record": str(recordings)})
    file_issues(capsys, repo)
    first = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert first.code == 0, first.err
    assert any(recordings.iterdir())

    # a new state directory, no key, no server: the replay model serves the recordings
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state2"))
    repo2 = make_repo(tmp_path / "second", {"type": "replay", "replay": str(recordings)})
    file_issues(capsys, repo2)
    second = run_cli(capsys, "--repo", str(repo2), "triage", "--json")
    assert second.code == 0, second.err

    def decisions(rows: list[dict[str, object]]) -> dict[object, object]:
        return {r["issue"]: (r["decision"], tuple(r["labels"])) for r in rows}

    assert decisions(second.json()) == decisions(first.json())


def test_kill_switch_stops_before_any_step_and_resume_lifts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    repo = make_repo(tmp_path)
    file_issues(capsys, repo)
    assert run_cli(capsys, "--repo", str(repo), "stop", "--reason", "incident 42").code == 0
    status = run_cli(capsys, "--repo", str(repo), "status", "--json").json()
    assert status["stopped"] is True and status["stop_reason"] == "incident 42"

    res = run_cli(capsys, "--repo", str(repo), "triage")
    assert res.code == 1
    assert "stopped" in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert run_cli(capsys, "--repo", str(repo), "runs", "--json").json() == []
    assert anthropic_env.received == []

    assert run_cli(capsys, "--repo", str(repo), "resume").code == 0
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    assert len(res.json()) == 10


def test_rate_limited_twice_then_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    repo = make_repo(tmp_path)
    run_cli(
        capsys,
        "--repo",
        str(repo),
        "issue",
        "new",
        "--title",
        ISSUES[0][1],
        "--body",
        ISSUES[0][2],
        "--author",
        "owner",
    )
    anthropic_env.fail_next(429, headers={"retry-after": "0"}, times=2)
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    assert res.json()[0]["decision"] == "accept"
    assert len(anthropic_env.received) == 3


@pytest.mark.timeout(60)
def test_long_retry_after_defers_the_issue_without_sleeping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    repo = make_repo(tmp_path)
    run_cli(
        capsys,
        "--repo",
        str(repo),
        "issue",
        "new",
        "--title",
        ISSUES[0][1],
        "--body",
        ISSUES[0][2],
        "--author",
        "owner",
    )
    anthropic_env.fail_next(429, headers={"retry-after": "86400"}, times=1)
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    row = res.json()[0]
    assert row["status"] == "deferred" and "retry" in row["reason"].lower()
    assert len(anthropic_env.received) == 1
    # the deferred issue is not retried before its time: a second triage makes no call
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0 and res.json() == []
    assert len(anthropic_env.received) == 1
    issue = json.loads(run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json").out)
    assert issue["comments"] == []


def test_provider_flag_selects_the_scripted_model_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # wired for the real API, but no key: --provider scripted runs offline all the same
    repo = make_repo(tmp_path, {"type": "anthropic"})
    run_cli(
        capsys, "--repo", str(repo), "issue", "new", "--title", "Add search", "--body", "Please."
    )
    refused = run_cli(capsys, "--repo", str(repo), "triage")
    assert refused.code == 2 and "ANTHROPIC_API_KEY" in refused.err
    # offline without scripted answers: nothing could judge the issue, so nothing is labelled
    res = run_cli(capsys, "--repo", str(repo), "--provider", "scripted", "triage", "--json")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "ANTHROPIC_API_KEY" in res.err and "provider.script" in res.err
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json").json()
    assert shown["labels"] == [] and shown["comments"] == []
    check = run_cli(capsys, "--repo", str(repo), "check")
    assert "warning: factory.yaml: provider: anthropic: ANTHROPIC_API_KEY is not set" in check.out
