"""``factory serve`` in a real Chromium: what a demo did, live runs, the kill switch."""

from __future__ import annotations

from contextlib import closing

import pytest
from playwright.sync_api import expect

from harness.engine.killswitch import KILL_SWITCH
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.serve.conftest import ACTOR, EVIL_TITLE, PLANTED_COST, Demo, Server
from tests.store_reads import pull_requests, verify_chain

# the demo is the worker's one 'factory demo', which test_demo.py and tests/store read too
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.together("demo-cycle")]

# the demo's outcomes (factory demo --json) and the queue section each lands in
SECTION = {
    "MERGED": "factory:merged",
    "rejected": "factory:rejected",
    "refused (needs a human)": "factory:needs-human",
    "needs a human": "factory:needs-human",
    "needs review": "factory:needs-review",
}


def test_queue_shows_every_issue_of_the_demo_where_it_ended(page, demo: Demo) -> None:
    assert page.url.endswith("/") and "token=" not in page.url  # the token leaves the address
    page.goto(page.url + "queue")
    assert demo.outcomes[demo.waiting] == "needs review"  # the bug fix waits: trust not earned
    assert set(demo.outcomes) == {1, 2, 3, 4, 5, demo.waiting}
    for number, outcome in demo.outcomes.items():
        row = page.locator(f"section[data-state='{SECTION[outcome]}'] tr[data-issue='{number}']")
        expect(row).to_have_count(1)
    why = page.locator("section[data-state='factory:needs-human'] tr[data-issue='5'] .why")
    expect(why).to_contain_text("addresses the validator")  # its page wrote to the validator
    merged = page.locator("section[data-state='factory:merged'] tr[data-issue='1']")
    expect(merged).to_contain_text("validate: merge")


def test_refused_issue_page_shows_the_journey_screenshot_and_the_verdicts(page) -> None:
    page.goto(page.url + "issues/5")
    shot = page.locator("img.journey-shot").first
    expect(shot).to_be_visible()
    shot.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shot.element_handle())
    assert shot.evaluate("img => img.naturalWidth") > 0
    body = page.locator("main")
    expect(body).to_contain_text("FAIL at step 3")
    expect(body).to_contain_text("needs_human")
    # the validator's verdict per criterion: the spec's criterion, and the observation it cites
    criteria = page.locator("table.criteria").first
    expect(criteria).to_contain_text("C1: The button on the home page is named Save.")
    expect(criteria).to_contain_text("#1 browser_snapshot {} at / — ok")
    expect(criteria).to_contain_text('heading "Notes"')  # its quote
    expect(page.locator("table.gates").first).to_contain_text("changed_lines")
    expect(page.locator("#outcome")).to_have_text("factory:needs-human")


def test_costs_equal_factory_runs_json(
    page, demo: Demo, server: Server, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("FACTORY_STATE_DIR", str(demo.state_dir))
    res = run_cli(capsys, "--repo", str(demo.repo), "runs", "--json", "--limit", "1000")
    assert res.code == 0, res.err
    expected = {row["id"]: row for row in res.json()}
    run_cost, plan_cost, issue_cost = demo.spent
    assert run_cost >= PLANTED_COST  # not all zero: the planted call is counted
    assert expected[demo.planted_run]["cost_usd"] == pytest.approx(run_cost, abs=1e-6)
    page.goto(server.base + "/runs")
    rows = page.locator("table.runs tbody tr[data-run]")
    expect(rows).to_have_count(len(expected))
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.run, r.dataset.cost, r.querySelector('.cost').textContent])"
    )
    for run_id, cost, text in shown:
        assert float(cost) == expected[run_id]["cost_usd"], run_id
        assert text == f"${expected[run_id]['cost_usd']:.4f}"
    page.goto(server.base + f"/runs/{demo.planted_run}")
    shown_cost = float(page.locator("#run-cost").get_attribute("data-cost"))
    assert shown_cost == expected[demo.planted_run]["cost_usd"]
    plan = page.locator("table.steps tr[data-step='plan']").first
    assert float(plan.get_attribute("data-cost")) == pytest.approx(plan_cost, abs=1e-6)
    page.goto(server.base + "/issues/1")
    issue_shown = float(page.locator("#issue-cost").get_attribute("data-cost"))
    assert issue_shown == pytest.approx(issue_cost, abs=1e-6)


def test_a_refused_validation_never_reads_succeeded(
    page, demo: Demo, server: Server, capsys, monkeypatch
) -> None:
    """``outcome`` in ``factory runs --json``; the plain table, the live line and the
    dashboard's Runs page say where the change went, not that the run "succeeded"."""
    monkeypatch.setenv("FACTORY_STATE_DIR", str(demo.state_dir))
    res = run_cli(capsys, "--repo", str(demo.repo), "runs", "--json", "--limit", "1000")
    assert res.code == 0, res.err
    validations = {r["issue"]: r for r in res.json() if r["workflow"] == "validate"}
    assert validations[1]["outcome"] == "merged"
    for number, route in ((demo.waiting, "needs_review"), (5, "needs_human")):
        row = validations[number]
        assert (row["status"], row["outcome"]) == ("succeeded", route), row
    assert {r["outcome"] for r in res.json() if r["workflow"] == "implement"} == {"pr_opened"}
    assert {r["outcome"] for r in res.json() if r["workflow"] == "triage"} >= {"accepted"}
    table = run_cli(capsys, "--repo", str(demo.repo), "runs", "--limit", "1000").out
    for run in validations.values():
        (line,) = [x for x in table.splitlines() if run["id"] in x]
        assert run["outcome"] in line and "succeeded" not in line, line
    # the live line of the cycle the waiting bug fix went through: where its validation went
    live = [x for x in demo.said if x.strip().startswith(f"issue {demo.waiting}:")]
    assert live and "needs_review" in live[-1], demo.said
    assert not any("succeeded" in x for x in demo.said if "issue " in x), demo.said
    page.goto(server.base + "/runs?workflow=validate")
    refused = page.locator(f"table.runs tr[data-run='{validations[5]['id']}'] .status")
    expect(refused).to_have_text("needs_human")
    expect(page.locator("table.runs tbody")).not_to_contain_text("succeeded")


def test_the_issue_page_shows_the_change_as_text_and_factory_diff_prints_it(
    page, demo: Demo, server: Server, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("FACTORY_STATE_DIR", str(demo.state_dir))
    res = run_cli(capsys, "--repo", str(demo.repo), "diff", "5")
    assert res.code == 0, res.err
    header, _, text = res.out.partition("\n")
    assert header.startswith("# PR ") and "diff --git" in text and "<" in text, res.out
    page.goto(server.base + "/issues/5")
    shown = page.locator("#diff pre.diff")
    expect(shown).to_contain_text("diff --git")
    assert shown.inner_text().rstrip("\n") == text.rstrip("\n")  # every line, as text
    # agent-written markup stays text: the only elements are the line spans
    assert set(shown.evaluate("pre => [...pre.querySelectorAll('*')].map(e => e.tagName)")) == {
        "SPAN"
    }
    with closing(Store.open(demo.state_dir)) as store:
        (validation,) = store.list_runs(limit=None, workflow="validate", issue=5)
    res = run_cli(capsys, "--repo", str(demo.repo), "report", validation.id, "--json")
    assert res.json()["diff"].rstrip("\n") == text.rstrip("\n")  # beside its gates
    res = run_cli(capsys, "--repo", str(demo.repo), "report", validation.id)
    assert res.out.rstrip("\n").endswith(text.rstrip("\n")) and "change: PR " in res.out
    for bad in ("0", "999"):
        res = run_cli(capsys, "--repo", str(demo.repo), "diff", bad)
        assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "no such issue: the factory knows no issue 999" in res.err  # not "no pull request"


def test_a_run_started_while_the_page_is_open_appears_and_advances(page, demo: Demo) -> None:
    page.evaluate("window.__same_page = 'yes'")
    store = Store.open(demo.state_dir)
    try:
        run = store.create_run("triage", 3, {}, {})
        first = store.start_step(run.id, "prescreen", {})
        row = page.locator(f"#running tr[data-run='{run.id}']")
        expect(row.locator(".step")).to_have_text("prescreen", timeout=15_000)
        store.finish_step(first, "succeeded", {})
        store.start_step(run.id, "judge", {})
        expect(row.locator(".step")).to_have_text("judge", timeout=15_000)
        store.set_run_status(run.id, "succeeded")
        expect(row).to_have_count(0, timeout=15_000)
        expect(page.locator(f"#recent tr[data-run='{run.id}']")).to_have_count(1)
    finally:
        store.close()
    assert page.evaluate("window.__same_page") == "yes"  # no reload happened


def test_the_kill_switch_button_stops_and_resumes_the_factory(page, demo: Demo) -> None:
    store = Store.open(demo.state_dir)
    try:
        page.fill("#kill-switch input[name=reason]", "night shift over")
        with page.expect_navigation():  # the POST answers with the page again (303)
            page.click("#stop")
        expect(page.locator("#kill-switch .state")).to_have_text("ENGAGED")
        expect(page.locator("#kill-switch .reason")).to_have_text("night shift over")
        assert store.get_flag(KILL_SWITCH) == "night shift over"
        with page.expect_navigation():
            page.click("#resume")
        expect(page.locator("#kill-switch .state")).to_have_text("off")
        assert store.get_flag(KILL_SWITCH) is None
        kinds = [e.kind for e in store.events() if e.data.get("name") == KILL_SWITCH]
        assert kinds[-2:] == ["flag.set", "flag.cleared"]
    finally:
        store.close()


def test_issue_text_is_shown_as_text_never_run(page, server: Server) -> None:
    page.goto(server.base + "/queue")
    expect(page.locator("main")).to_contain_text(EVIL_TITLE)
    link = page.locator("section[data-state='new'] tr[data-issue] a").first
    link.click()
    expect(page.locator("h1")).to_contain_text(EVIL_TITLE)
    page.locator("details summary", has_text="issue text").click()
    expect(page.locator(".untrusted").first).to_contain_text("<script>window.__pwned = 2</script>")
    assert page.evaluate("window.__pwned") is None


def test_comments_are_markdown_rendered_safely(page, server: Server, demo: Demo) -> None:
    """A comment reads as the forge renders it — emphasis, lists, tables, links — while
    what a stranger or an agent wrote into it runs nothing and loads nothing."""
    body = (
        "**Bold** and a [site](https://example.com) and a [trap](javascript:window.__pwned=4)"
        "\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        '<img src=x onerror="window.__pwned=5"> ![pixel](https://example.com/p.png) '
        '<a href="#" onclick="window.__pwned=6">raw</a>'
    )
    with closing(Store.open(demo.state_dir)) as store:
        LocalForge(store, GitRepo(demo.repo)).post_comment(3, "markdown:test", body)
    page.goto(server.base + "/issues/3")
    shown = page.locator("article.comment", has_text="Bold and a site").locator(".markdown")
    expect(shown.locator("strong")).to_have_text("Bold")
    expect(shown.locator("li")).to_have_count(2)
    expect(shown.locator("table td").first).to_have_text("1")
    expect(shown.locator("a", has_text="site")).to_have_attribute("href", "https://example.com")
    assert shown.locator("a").count() == 1  # a javascript: link is no link, raw HTML text
    assert shown.locator("img, script, [onclick], [onerror]").count() == 0
    expect(shown).to_contain_text('<img src=x onerror="window.__pwned=5">')
    assert page.evaluate("window.__pwned") is None


def test_the_trust_panel_shows_the_kind_that_waits_and_the_autonomy_index(page) -> None:
    bug = page.locator("#trust tr[data-kind='bug']")
    expect(bug.locator(".mode")).to_have_text("after approval")
    expect(bug).to_contain_text("0 / 2")
    # merged by themselves: 1 (feature); rejected by triage: 3 -> both without a person
    expect(page.locator("#autonomy-overall")).to_have_text("100%")
    # nothing of the card is cut off: its table inside it, the card inside the page
    inside = page.evaluate(
        """() => { const card = document.querySelector('#trust');
        const edge = card.getBoundingClientRect().right;
        return [card.scrollWidth <= card.clientWidth,
                card.querySelector('table').getBoundingClientRect().right <= edge,
                edge <= document.documentElement.clientWidth] }"""
    )
    assert inside == [True, True, True], inside


def _validate_steps(store: Store, issue: int) -> dict:
    runs = store.list_runs(limit=None, workflow="validate", issue=issue)
    landed = [
        {s.step_id: s.outputs for s in store.steps(r.id) if s.status == "succeeded"} for r in runs
    ]
    (steps,) = [s for s in landed if "merge" in s]
    return steps


def test_a_run_page_heads_with_the_outcome_every_list_shows(
    page, demo: Demo, server: Server, capsys, monkeypatch
) -> None:
    """The waiting bug fix's triage (accepted), implement (pr_opened) and validate
    (needs_review) runs: their own pages, the Runs page, the Now page, ``factory runs`` and
    ``factory report`` say one word each; the step shown is the last one that ran (merge and
    smoke were skipped); the issue page heads each run with what that run decided, never the
    implement run with triage's decision."""
    monkeypatch.setenv("FACTORY_STATE_DIR", str(demo.state_dir))
    rows = run_cli(capsys, "--repo", str(demo.repo), "runs", "--json", "--limit", "1000").json()
    mine = {r["workflow"]: r for r in rows if r["issue"] == demo.waiting}
    words = {"triage": "accepted", "implement": "pr_opened", "validate": "needs_review"}
    assert {w: r["outcome"] for w, r in mine.items()} == words, mine
    page.goto(server.base + "/")
    for row in mine.values():
        expect(page.locator(f"#recent tr[data-run='{row['id']}'] .status")).to_have_text(
            row["outcome"]
        )
    validated = mine["validate"]["id"]
    expect(page.locator(f"#recent tr[data-run='{validated}'] .step")).to_have_text("decide")
    for row in mine.values():
        report = run_cli(capsys, "--repo", str(demo.repo), "report", row["id"])
        assert report.out.splitlines()[0].endswith(f"— {row['outcome']}"), report.out
        page.goto(server.base + f"/runs?issue={demo.waiting}")
        listed = page.locator(f"table.runs tr[data-run='{row['id']}'] .status")
        expect(listed).to_have_text(row["outcome"])
        page.goto(server.base + f"/runs/{row['id']}")
        expect(page.locator("#outcome")).to_have_text(row["outcome"])
    page.goto(server.base + f"/runs/{validated}")
    expect(page.locator("#step")).to_have_text("decide")
    page.goto(server.base + f"/issues/{demo.waiting}")
    trail = "section.trail[data-workflow='{}'] .decision"
    expect(page.locator(trail.format("triage"))).to_have_text("accept")
    expect(page.locator(trail.format("implement"))).to_have_count(0)
    expect(page.locator(trail.format("validate"))).to_have_text("needs_review")


def test_the_now_page_fits_1280_pixels(page, server: Server) -> None:
    """Now's tables beside the trust panel fit a 1280-pixel window: no row runs past the
    page's right edge, the page scrolls only down."""
    page.goto(server.base + "/")
    # the live section's first update (the server sends it on connecting) replaces its
    # tables: measured after it, never while a table is swapped out
    expect(page.locator("#live[data-updated]")).to_have_count(1)
    expect(page.locator("#recent table.runs tbody tr").first).to_be_visible()
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for table in page.locator("table").all():
        box = table.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, box
    aside = page.locator("aside.side").bounding_box()
    assert aside is not None
    for table in page.locator("#live table").all():  # beside the panel, never under it
        box = table.bounding_box()
        assert box is not None and box["x"] + box["width"] <= aside["x"], (box, aside)
    for table in page.locator("aside.side table").all():
        box = table.bounding_box()
        assert box is not None and box["x"] + box["width"] <= aside["x"] + aside["width"], box


def test_approve_in_the_page_lands_the_tested_tree(page, demo: Demo, server: Server) -> None:
    page.set_default_navigation_timeout(240_000)
    page.goto(server.base + f"/issues/{demo.waiting}")
    expect(page.locator("#decide .label")).to_have_text("factory:needs-review")
    with page.expect_navigation():  # answered before validation runs: it lands in the background
        page.click("#approve", no_wait_after=True)
    # the POST's own answer: recorded, not yet landed (the flash, or the page's own banner
    # once it has refreshed itself)
    answer = page.locator("#said:has-text('approval recorded — landing'), #deciding")
    expect(answer.first).to_be_visible()
    # the page refreshes itself while the approval is in progress, then says what came of it
    landed = page.locator("#said", has_text=f"approved by {ACTOR}; landed as")
    expect(landed).to_have_count(1, timeout=240_000)
    expect(page.locator("#deciding")).to_have_count(0)
    expect(page.locator("#outcome")).to_have_text("factory:merged")
    expect(page.locator("#decide")).to_have_count(0)
    audit = page.locator("table.audit tr[data-kind='human.approve']")
    expect(audit.locator(".actor")).to_have_text(ACTOR)
    with closing(Store.open(demo.state_dir)) as store:
        issue = store.issue(demo.waiting)
        assert issue.state == "closed" and "factory:merged" in issue.labels
        assert "factory:needs-review" not in issue.labels
        steps = _validate_steps(store, demo.waiting)
        merge = steps["merge"]
        assert merge["landed_tree"] == merge["tested_tree"] == steps["check"]["tree"]
        g = GitRepo(demo.repo)
        assert g.tree_of(g.rev_parse("main")) == steps["check"]["tree"]
        assert steps["smoke"]["reverted"] is None
        approvals = [e for e in store.events() if e.kind == "human.approve"]
        assert [(e.data["issue"], e.data["actor"]) for e in approvals] == [(demo.waiting, ACTOR)]
        assert verify_chain(store)
        first, landing = store.list_runs(limit=None, workflow="validate", issue=demo.waiting)[::-1]
    # the landing run kept the verdict the first validation gave the same candidate: said so
    page.goto(server.base + f"/runs/{landing.id}")
    expect(page.locator(".reused")).to_have_text(f"— reused from run {first.id}: not asked again")


def test_reject_in_the_page_closes_the_issue_and_its_pr_with_one_comment(
    page, demo: Demo, server: Server
) -> None:
    page.goto(server.base + "/issues/5")
    expect(page.locator("#decide .label")).to_have_text("factory:needs-human")
    before = GitRepo(demo.repo).rev_parse("main")
    page.fill("#reject-reason", "The hold-out is right: keep the Add button <b>as is</b>")
    page.click("#reject")
    expect(page.locator("#said")).to_contain_text(f"rejected by {ACTOR}")
    expect(page.locator("#outcome")).to_have_text("factory:rejected")
    expect(page.locator("table.audit tr[data-kind='human.reject'] .actor")).to_have_text(ACTOR)
    with closing(Store.open(demo.state_dir)) as store:
        issue = store.issue(5)
        assert issue.state == "closed" and "factory:rejected" in issue.labels
        assert "factory:needs-human" not in issue.labels
        rejected = [c.body for c in store.comments(5) if "Rejected" in c.body]
        assert len(rejected) == 1 and ACTOR in rejected[0] and "<b>" not in rejected[0]
        forge = LocalForge(store, GitRepo(demo.repo))
        assert all(pr.state == "closed" for pr in pull_requests(store, issue=5)) and pull_requests(
            store, issue=5
        )
        assert forge.get_issue(5).state == "closed"
        rejects = [e for e in store.events() if e.kind == "human.reject"]
        assert [(e.data["issue"], e.data["actor"]) for e in rejects] == [(5, ACTOR)]
    assert GitRepo(demo.repo).rev_parse("main") == before  # nothing of it landed
    # a second decision on it is refused with one line, and nothing changes
    page.goto(server.base + "/issues/5")
    expect(page.locator("#decide")).to_have_count(0)


def test_runs_filter_by_workflow_status_issue_and_day(server: Server, demo: Demo) -> None:
    import re

    cookie = server.session()

    def shown(query: str) -> list[tuple[str, str, str]]:
        status, _, body = server.request("GET", "/runs" + query, cookie=cookie)
        assert status == 200
        rows = re.findall(rb'<tr data-run="([^"]+)" data-status="([^"]+)"', body)
        issues = re.findall(rb"<td>(?:<a href=\"/issues/(\d+)\">#\d+</a>)?</td>\s*<td><span", body)
        assert len(issues) == len(rows)
        return [(r.decode(), s.decode(), i.decode()) for (r, s), i in zip(rows, issues)]

    with closing(Store.open(demo.state_dir)) as store:
        everything = store.list_runs(limit=1000)
        validate = {r.id for r in everything if r.workflow == "validate"}
        day = everything[0].started_at[:10]
        # the demo may run across midnight: the filter shows the runs that started on the day
        on_the_day = {r.id for r in everything if r.started_at[:10] == day}
    assert {r for r, _, _ in shown("?workflow=validate")} == validate
    assert {i for _, _, i in shown("?issue=1")} == {"1"}
    assert {r for r, _, _ in shown(f"?day={day}")} == on_the_day
    assert shown("?day=2000-01-01") == []
    assert {s for _, s, _ in shown("?status=succeeded&workflow=triage")} == {"succeeded"}


def test_a_run_page_shows_its_model_calls_and_readable_transcripts(
    server: Server, demo: Demo
) -> None:
    cookie = server.session()
    status, _, body = server.request("GET", f"/runs/{demo.planted_run}", cookie=cookie)
    assert status == 200
    text = body.decode()
    assert "claude-x" in text and "$0.0123" in text  # the priced call, under its step
    assert "read_file" in text and "tool_use" in text  # the plan agent's first tool call
    assert "Show how many notes there are" in text  # the issue as the agent was given it


def test_an_accepted_issue_is_stopped_from_its_page(page, demo: Demo, server: Server) -> None:
    """**Stop** on an accepted issue's page does what ``factory cancel`` does: the issue waits
    for a person, with one comment saying who stopped it and why."""
    with closing(Store.open(demo.state_dir)) as store:
        forge = LocalForge(store, GitRepo(demo.repo))
        number = forge.create_issue("Sort the notes", "By date.", "alice").number
        forge.add_labels(number, ["factory:accepted"])
    page.goto(server.base + f"/issues/{number}")
    expect(page.locator("#decide")).to_have_count(0)
    page.fill("#cancel-reason", "Not this quarter")
    page.click("#cancel")
    expect(page.locator("#said")).to_contain_text(f"cancelled by {ACTOR}: Not this quarter")
    expect(page.locator("#outcome")).to_have_text("factory:needs-human")
    expect(page.locator("#cancel")).to_have_count(0)
    expect(page.locator("article.comment", has_text="Stopped")).to_contain_text("Not this quarter")
    expect(page.locator("table.audit tr[data-kind='human.cancel'] .actor")).to_have_text(ACTOR)
