"""The GitHub forge through PyGithub against the stand-in GitHub: the conformance suite,
exactly-once writes under faults, rate limits without hot loops, pacing, and the token."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import DeferredError, ForgeError, GitError, NotFoundError
from harness.forge.base import factory_labels
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.conftest import git
from tests.forge.conformance import run_forge_conformance
from tests.forge.github_helpers import FAST_RETRY, TOKEN, github_forge, standin_for


@pytest.fixture
def hub(empty_repo: Path, tmp_path: Path):
    with standin_for(empty_repo, tmp_path) as standin:
        yield standin


def _listings(hub, state: str | None = None) -> list:
    """The issue listings the forge asked for (of ``state`` if given)."""
    return [
        r
        for r in hub.requests
        if r.method == "GET"
        and r.path.endswith("/issues")
        and (state is None or r.query.get("state") == [state])
    ]


def _branch(repo: Path, worktrees: Path, name: str, text: str) -> str:
    path = worktrees / name.replace("/", "-")
    if not path.exists():
        git(repo, "worktree", "add", "-q", "-b", name, str(path), "main")
    (path / "feature.txt").write_text(text)
    sha = GitRepo(path).commit_all("feature")
    assert sha
    return sha


def test_github_forge_conformance(hub, empty_repo: Path, tmp_path: Path) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    worktrees = tmp_path / "wt"

    def make_branch(name: str) -> str:
        return _branch(empty_repo, worktrees, name, "one\n")

    def advance(name: str) -> str:  # someone pushes to the PR's branch
        sha = _branch(empty_repo, worktrees, name, "one\ntwo\n")
        git(empty_repo, "push", "-q", str(hub.bare), f"+{sha}:refs/heads/{name}")
        return sha

    run_forge_conformance(forge, make_branch, advance)
    # labels created with the factory's colours and descriptions
    for name, (color, description) in factory_labels().items():
        assert hub.labels[name] == {"color": color, "description": description}
    # the merge happened on the server (a merge commit in the bare repository) and the local
    # production branch was brought up to it
    remote_main = GitRepo(hub.bare).rev_parse("refs/heads/main")
    assert remote_main == GitRepo(empty_repo).rev_parse("refs/heads/main")
    assert GitRepo(empty_repo).read_blob("main", "feature.txt") == b"one\ntwo\n"
    # the merge with a stale head went to GitHub with that SHA, which refused it (409)
    merges = [r for r in hub.requests if r.method == "PUT" and r.path.endswith("/merge")]
    assert len(merges) == 2 and all(b'"sha"' in m.body for m in merges)
    assert json.loads(merges[0].body)["sha"] != json.loads(merges[1].body)["sha"]


def test_a_502_after_a_comment_was_posted_does_not_post_it_twice(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("Dark mode", "Please.")
    hub.fail_next("POST", r"/issues/\d+/comments$", "502-after")
    first = forge.post_comment(number, "triage:decision", "**Accepted.**")
    again = github_forge(hub, empty_repo, tmp_path / "other-state").post_comment(
        number, "triage:decision", "**Accepted.**"
    )
    assert first.id == again.id
    assert len(hub.comments_on(number)) == 1
    posts = [r for r in hub.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert len(posts) == 1  # the lookup found it: no second POST
    assert _pending(tmp_path / "state") == []


def test_a_502_after_a_pr_was_opened_does_not_open_another(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("Count notes", "Show N notes.")
    branch = f"factory/issue-{number}-0badf00d"
    head = _branch(empty_repo, tmp_path / "wt", branch, "x\n")
    hub.fail_next("POST", r"/pulls$", "502-after")
    pr = forge.open_pr(number, branch, "main", "Count notes", "Body")
    assert pr.head_sha == head and pr.issue == number
    assert len(hub.pulls) == 1
    assert len([r for r in hub.requests if r.method == "POST" and r.path.endswith("/pulls")]) == 1
    # a re-run (a fresh process: no intent in its store) finds the PR by its branch
    other = github_forge(hub, empty_repo, tmp_path / "state2")
    assert other.open_pr(number, branch, "main", "Count notes", "Body").number == pr.number
    assert len(hub.pulls) == 1


def test_a_crash_between_the_create_and_its_record_is_settled_by_lookup(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    forge = github_forge(hub, empty_repo, state)
    number = hub.open_issue("Count notes", "Show N notes.")
    key = f"github:{hub.repository}:comment:{number}:implement:pr"
    Store.open(state).begin_intent(key, "comment")  # recorded, then the POST landed, then -9
    hub.dispatch(
        "POST",
        f"/api/v3/repos/{hub.repository}/issues/{number}/comments",
        {},
        {"authorization": f"token {TOKEN}"},
        f'{{"body": "{forge.markers.tag(number, "implement:pr")}\\nOpened."}}'.encode(),
    )
    forge.post_comment(number, "implement:pr", "Opened.")
    assert len(hub.comments_on(number)) == 1
    assert Store.open(state).intent(key) is not None
    assert _pending(state) == []


def _comment_reads(hub, number: int) -> int:
    return len(
        [r for r in hub.requests if r.method == "GET" and r.path.endswith(f"/{number}/comments")]
    )


def test_an_issue_with_no_comment_is_not_searched_for_the_factorys_own(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    """The listing said the issue had no comment, and every post is begun in the journal
    first: the three comments of a merged issue are posted without a read of its comments."""
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("Count notes", "Show N notes.")
    forge.list_issues("open")  # this process reads the world: no comment on it
    for key in ("triage:decision", "implement:pr", "merged"):
        forge.post_comment(number, key, f"{key}.")
    assert _comment_reads(hub, number) == 0
    assert len(hub.comments_on(number)) == 3
    # a runner with a store of its own reads them once, and posts none of them again
    other = github_forge(hub, empty_repo, tmp_path / "fresh-state")
    other.list_issues("open")
    for key in ("triage:decision", "implement:pr", "merged", "retry:1"):
        other.post_comment(number, key, f"{key}.")
    assert _comment_reads(hub, number) == 1
    assert len(hub.comments_on(number)) == 4


def test_an_issue_with_comments_is_read_once_per_process(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("Count notes", "Show N notes.")
    real = forge.markers.tag(number, "merged")
    hub.add_comment(number, f"{real}\nfake", "mallory")  # the marker, copied by a stranger
    forge.list_issues("open")
    forge.post_comment(number, "triage:decision", "Accepted.")
    forge.post_comment(number, "merged", "Merged.")
    assert _comment_reads(hub, number) == 1
    assert [c["author"] for c in hub.comments_on(number)] == ["mallory", *[forge.bot_login] * 2]


def test_a_post_begun_and_not_resolved_is_looked_for(hub, empty_repo: Path, tmp_path: Path) -> None:
    """What this process knows is not trusted for a post another run began: its comment may
    have landed."""
    state = tmp_path / "state"
    forge = github_forge(hub, empty_repo, state)
    number = hub.open_issue("Count notes", "Show N notes.")
    forge.list_issues("open")  # no comment yet, as this process read it
    Store.open(state).begin_intent(f"github:{hub.repository}:comment:{number}:merged", "comment")
    hub.add_comment(number, f"{forge.markers.tag(number, 'merged')}\nMerged.", forge.bot_login)
    forge.post_comment(number, "merged", "Merged.")
    assert _comment_reads(hub, number) == 1
    assert len(hub.comments_on(number)) == 1


def test_a_post_after_a_look_up_is_not_all_that_is_known(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    """A runner with a store of its own resumes a post it began: the comments another runner
    left before are still read before a post it never began."""
    state = tmp_path / "state"
    forge = github_forge(hub, empty_repo, state)
    number = hub.open_issue("Count notes", "Show N notes.")
    hub.add_comment(number, f"{forge.markers.tag(number, 'implement:pr')}\nPR.", forge.bot_login)
    forge.list_issues("open")
    Store.open(state).begin_intent(f"github:{hub.repository}:comment:{number}:retry", "comment")
    forge.post_comment(number, "retry", "Again.")  # begun, looked for, not found: posted
    forge.post_comment(number, "implement:pr", "PR.")  # never begun here: read, found
    assert _comment_reads(hub, number) == 2
    assert len(hub.comments_on(number)) == 2


def test_secondary_rate_limit_with_retry_after_zero_backs_off(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state", replace(FAST_RETRY, base_s=0.2))
    number = hub.open_issue("t", "b")
    for _ in range(2):
        hub.fail_next("GET", r"/issues$", "secondary", retry_after="0")
    started = time.monotonic()
    assert forge.get_issue(number).title == "t"
    waited = time.monotonic() - started
    assert len(_listings(hub, "open")) == 3  # two refusals, one success: no hot loop
    assert waited >= 0.2 * 0.75 + 0.4 * 0.75  # backed off twice, growing


def test_secondary_rate_limit_without_retry_after_defers(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state", max_wait_s=30)
    number = hub.open_issue("t", "b")
    hub.fail_next("GET", r"/issues$", "secondary")
    started = time.monotonic()
    with pytest.raises(DeferredError) as caught:
        forge.get_issue(number)
    assert time.monotonic() - started < 5 and caught.value.not_before > time.time() + 50
    assert len(_listings(hub)) == 1


def test_an_exhausted_primary_limit_waits_for_its_reset_when_short(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("t", "b")
    hub.fail_next("GET", r"/issues$", "primary", retry_after="1")
    assert forge.get_issue(number).number == number
    hub.fail_next("GET", r"/issues$", "primary", retry_after="3600")
    with pytest.raises(DeferredError):
        forge.snapshot.refresh()


def test_a_failed_create_without_a_lookup_is_not_repeated(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    hub.fail_next("POST", r"/issues$", "5xx", status=502)
    with pytest.raises(ForgeError, match="not repeated"):
        forge.create_issue("A title", "A body", "someone")
    assert len([r for r in hub.requests if r.method == "POST"]) == 1


def test_idempotent_requests_retry_5xx_a_bounded_number_of_times(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state", replace(FAST_RETRY, max_retries=2))
    number = hub.open_issue("t", "b")
    for _ in range(5):
        hub.fail_next("GET", r"/issues$", "5xx", status=503)
    with pytest.raises(ForgeError, match="after 3 tries"):
        forge.get_issue(number)
    assert len(_listings(hub)) == 3


def test_writes_are_paced_a_second_apart_across_threads(
    hub, empty_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two forges of one process, four threads writing at once: the process's one pacer
    lets the writes go one at a time, a second apart. Read off the pacer's own clock, which
    a loaded machine only spreads further apart (the arrival times at the stand-in are not:
    a request is sent after the pacer let it go, and a thread may wait for the CPU between)."""
    from harness.forge import github_rest

    let_go: list[float] = []
    observing = threading.Lock()
    real_wait = github_rest._Pacer.wait

    def observed(self, interval: float) -> None:
        with observing:  # the pacer's own lock is held as long: nothing else changes
            real_wait(self, interval)
            let_go.append(self._last)  # when it let this write go

    monkeypatch.setattr(github_rest._Pacer, "wait", observed)
    number = hub.open_issue("t", "b")
    forges = [
        github_forge(hub, empty_repo, tmp_path / f"s{i}", write_interval_s=1.0) for i in range(2)
    ]
    threads = [
        threading.Thread(target=f.add_labels, args=(number, [f"kind:{k}"]))
        for f, k in zip(forges * 2, ["bug", "docs", "chore", "feature"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(hub.writes()) == 4 and len(let_go) == 4
    assert sorted(hub.issues[number].labels) == [
        "kind:bug",
        "kind:chore",
        "kind:docs",
        "kind:feature",
    ]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(let_go)), let_go


def test_find_comment_pages_through_and_trusts_only_its_own_marker(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("t", "b")
    for i in range(150):
        hub.add_comment(number, f"comment {i}", "bystander")
    real = forge.markers.tag(number, "triage:decision")
    hub.add_comment(number, f"{real}\nfake", "mallory")  # the real marker, copied by a stranger
    hub.add_comment(number, "<!-- factory:triage:decision -->\nfake", forge.bot_login)  # unsigned
    assert forge.find_comment(number, "triage:decision") is None
    posted = forge.post_comment(number, "triage:decision", "**Accepted.** <!-- factory:merged -->")
    assert forge.find_comment(number, "triage:decision") == posted
    assert forge.find_comment(number, "merged") is None  # a marker inside its own text is data
    pages = [r for r in hub.requests if r.path.endswith("/comments") and r.method == "GET"]
    assert any(r.query.get("page") == ["2"] for r in pages)  # followed the Link header


def test_the_token_stays_in_the_auth_header(hub, empty_repo: Path, tmp_path: Path) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("t", "b")
    branch = f"factory/issue-{number}-feedf00d"
    _branch(empty_repo, tmp_path / "wt", branch, "x\n")
    forge.open_pr(number, branch, "main", "t", "b")
    forge.post_comment(number, "k", "hello")
    for request in hub.requests:
        assert TOKEN.encode() not in request.body
        assert TOKEN not in request.path and TOKEN not in str(request.query)
        others = {k: v for k, v in request.headers.items() if k != "authorization"}
        assert TOKEN not in str(others)
    assert any(r.path.endswith(".git/git-receive-pack") for r in hub.requests)  # pushed
    assert TOKEN not in git(empty_repo, "config", "--list", "--show-origin")
    for path in [*empty_repo.joinpath(".git").rglob("*"), *(tmp_path / "state").rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_the_bot_login_falls_back_when_the_token_cannot_read_the_user(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    assert forge.bot_login == "factory-bot"
    from harness.caches import PROCESS

    PROCESS.reset()  # a new process
    hub.fail_next("GET", r"/user$", "5xx", status=403)
    assert github_forge(hub, empty_repo, tmp_path / "s2").bot_login == "github-actions[bot]"


def test_ci_status_reads_check_runs_and_commit_statuses(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    sha = GitRepo(empty_repo).rev_parse("main")
    assert sha
    hub.ci_conclusion = None
    assert forge.ci_status(sha) == "none"
    hub.check_runs[sha] = [{"status": "in_progress"}]
    assert forge.ci_status(sha) == "pending"
    hub.check_runs[sha] = [{"status": "completed", "conclusion": "success"}]
    assert forge.ci_status(sha) == "success"
    hub.statuses[sha] = [{"state": "failure", "context": "ci/legacy"}]
    assert forge.ci_status(sha) == "failure"
    hub.statuses[sha] = [{"state": "success", "context": "ci/legacy"}]
    hub.check_runs[sha] = [{"status": "completed", "conclusion": "timed_out"}]
    assert forge.ci_status(sha) == "failure"
    # asked again with nothing changed: both reads are answered 304, at no cost
    before = hub.not_modified
    assert forge.ci_status(sha) == "failure"
    assert hub.not_modified - before == 2
    assert all(r.headers.get("if-none-match") for r in hub.requests[-2:])


def test_the_token_is_in_no_command_line(
    hub, empty_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    seen: list[str] = []
    real = subprocess.Popen.__init__

    def spy(self, args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(" ".join(map(str, args)) if isinstance(args, list | tuple) else str(args))
        real(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    number = hub.open_issue("t", "b")
    branch = f"factory/issue-{number}-cafef00d"
    _branch(empty_repo, tmp_path / "wt", branch, "x\n")
    forge.open_pr(number, branch, "main", "t", "b")
    forge.sync("main")
    assert any("push" in s for s in seen) and any("fetch" in s for s in seen)
    assert all(TOKEN not in s for s in seen)


def test_a_lesson_is_proposed_on_its_own_branch(hub, empty_repo: Path, tmp_path: Path) -> None:
    """A lesson's branch (``factory/lesson-<12 hex>``, harness/lessons) is the factory's to
    push: its pull request opens on GitHub (the soak found every lesson refused there)."""
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    branch = "factory/lesson-0123456789ab"
    head = _branch(empty_repo, tmp_path / "wt", branch, "a lesson\n")
    pr = forge.open_pr(0, branch, "main", "A lesson", "Why")
    assert GitRepo(hub.bare).rev_parse(f"refs/heads/{branch}") == head
    assert forge.find_pr(branch) == pr


def test_beyond_its_scope_every_write_is_refused(hub, empty_repo: Path, tmp_path: Path) -> None:
    """T9: no push to production or to any branch but the factory's, no force over a moved
    production, no merge of a head other than the one validated."""
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    bare = GitRepo(hub.bare)
    production = bare.rev_parse("refs/heads/main")
    number = hub.open_issue("t", "b")
    evil = _branch(empty_repo, tmp_path / "wt", f"factory/issue-{number}-0000beef", "x\n")
    wrong = ("factory-issue-1", "factory/other", "factory/issue-1-x", "factory/lesson-main")
    for branch in ("main", "refs/heads/main", "release", *wrong):
        with pytest.raises(GitError, match="not a factory branch"):
            forge.remote.push(evil, branch)
        with pytest.raises(ForgeError):
            forge.open_pr(number, branch, "main", "t", "b")
    assert bare.rev_parse("refs/heads/main") == production
    assert hub.pulls == {}
    # production moved on GitHub: a revert (the one write to production) is refused, not forced
    other = tmp_path / "someone"
    git(tmp_path, "clone", "-q", str(hub.bare), str(other))
    (other / "NOTICE").write_text("moved\n")
    git(other, "add", "NOTICE")
    git(other, "commit", "-qm", "a human change")
    git(other, "push", "-q", "origin", "main")
    moved = bare.rev_parse("refs/heads/main")
    with pytest.raises(GitError):
        forge.remote.push_fast_forward(production, evil, "main")
    assert bare.rev_parse("refs/heads/main") == moved
    # a PR whose head is not the validated one is not merged
    branch = f"factory/issue-{number}-0000cafe"
    head = _branch(empty_repo, tmp_path / "wt", branch, "y\n")
    pr = forge.open_pr(number, branch, "main", "t", "b")
    with pytest.raises(ForgeError, match="expected"):
        forge.merge_pr(pr.number, evil)
    assert not hub.pulls[pr.number].merged and head


def test_other_logins_of_the_factory_count_as_its_own(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    """A comment an App token posted (the apply job's FACTORY_WRITE_TOKEN) is found by the job
    that comments with github.token, so nothing is posted twice; strangers still don't count."""
    forge = github_forge(hub, empty_repo, tmp_path / "state", own_logins=["factory-app[bot]"])
    number = hub.open_issue("t", "b")
    hub.add_comment(
        number, f"{forge.markers.tag(number, 'implement:pr')}\nOpened.", "factory-app[bot]"
    )
    hub.add_comment(number, f"{forge.markers.tag(number, 'triage:decision')}\nAccepted!", "mallory")
    assert forge.is_own("factory-app[bot]") and forge.is_own(forge.bot_login)
    assert not forge.is_own("mallory")
    forge.post_comment(number, "implement:pr", "Opened.")
    assert len(hub.comments_on(number)) == 2  # found, not posted again
    assert forge.find_comment(number, "triage:decision") is None
    plain = github_forge(hub, empty_repo, tmp_path / "state")  # same key, no other login
    assert plain.find_comment(number, "implement:pr") is None


def test_the_issue_snapshot_follows_changes_made_elsewhere_with_one_request(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    for i in range(150):
        hub.open_issue(f"issue {i}", "body")
    forge = github_forge(hub, empty_repo, tmp_path / "state", snapshot_max_age_s=0.0)
    assert len(forge.list_issues("open")) == 150
    assert len(_listings(hub, "open")) == 2  # 100 per page, once
    hub.issues[3].title, hub.issues[3].updated_at = "edited", "2099-01-01T00:00:00Z"
    hub.issues[5].state, hub.issues[5].updated_at = "closed", "2099-01-01T00:00:01Z"
    before = len(hub.requests)
    issues = {i.number: i for i in forge.list_issues("all")}
    assert issues[3].title == "edited" and issues[5].state == "closed"
    assert 5 not in [i.number for i in forge.list_issues("open")]
    assert len(hub.requests) - before <= 2  # one look at the newest (and one 304 after it)
    assert len(_listings(hub, "open")) == 2  # never listed again
    # a second forge on the same state reads nothing it need not: one 304
    other = github_forge(hub, empty_repo, tmp_path / "state", snapshot_max_age_s=0.0)
    before, not_modified = len(hub.requests), hub.not_modified
    assert other.get_issue(3).title == "edited"
    assert len(hub.requests) - before == 1 and hub.not_modified - not_modified == 1


def _pending(state: Path) -> list[str]:
    """The intents a crash left unresolved."""
    rows = Store.open(state)._rows("SELECT key FROM forge_intents WHERE status = 'pending'")
    return [row["key"] for row in rows]


def test_a_deleted_issue_reads_as_one_that_does_not_exist(
    hub, empty_repo: Path, tmp_path: Path
) -> None:
    forge = github_forge(hub, empty_repo, tmp_path / "state")
    kept, deleted = hub.open_issue("kept", "b"), hub.open_issue("deleted", "b")
    hub.delete_issue(deleted)  # GitHub answers 410 Gone for it from now on
    assert [i.number for i in forge.list_issues("open")] == [kept]
    with pytest.raises(NotFoundError, match=f"issue {deleted} does not exist .*HTTP 410"):
        forge.get_issue(deleted)
    with pytest.raises(NotFoundError, match=r"issue 99 does not exist .*HTTP 404"):
        forge.get_issue(99)
    hub.fail_next("GET", r"/issues/99$", "refused", status=403)
    with pytest.raises(ForgeError) as refused:  # any other refusal stays the forge's error
        forge.get_issue(99)
    assert not isinstance(refused.value, NotFoundError) and "HTTP 403" in str(refused.value)
