"""``factory init --ci github-actions``: issue forms and workflows that pass actionlint and
zizmor, keep untrusted values out of scripts, and give write access only to the applier."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_helpers import run_cli
from tests.conftest import git, make_empty_repo
from tests.forge.shared_scenario import Output

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = Path(__file__).with_name("actionlint.cjs")
WRITE = {"write"}
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
# The findings the generated workflows justify at their line (`# actionlint: why`), and
# nothing else: actionlint 1.7.7 predates concurrency's `queue` key, on which the landing
# jobs rely (GitHub changelog 2026-05-07: `queue: max` lets runs wait instead of cancelling).
JUSTIFIED = [
    'factory-health.yml: unexpected key "queue" for "concurrency" section',
    'factory-work.yml: unexpected key "queue" for "concurrency" section',
]


COMMIT = "0123456789abcdef0123456789abcdef01234567"
PACKAGE = f"git+https://github.com/example/dark-factory-harness@{COMMIT}"


def _load(text: str) -> Any:
    """``text`` read by libyaml's safe loader: what ``yaml.safe_load`` reads, a tenth of its
    CPU on workflows this size."""
    return yaml.load(text, Loader=yaml.CSafeLoader)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``init --ci github-actions --ack`` writes, once for the module: the tests that
    read it only read it."""
    repo = make_empty_repo(tmp_path_factory.mktemp("generated"))
    args = ("init", "--ci", "github-actions", "--ack", "--package", PACKAGE)
    with Output() as output:
        res = run_cli(output, "--repo", str(repo), *args)
    assert res.code == 0, res.err
    return repo / ".github"


def test_ci_installs_only_the_pinned_source(generated: Path) -> None:
    for name, wf in _workflows(generated).items():
        text = json.dumps(wf)
        assert "dark-factory-harness'" not in text and "vars.FACTORY_PACKAGE" not in text, name
        packages = re.findall(r'"FACTORY_PACKAGE": "([^"]*)"', text)
        assert packages and set(packages) == {f"dark-factory-harness @ {PACKAGE}"}, name
        installs = re.findall(r"pip install[^\\n\"]*", text)
        assert installs and all(
            i.strip() == "pip install" or "$FACTORY_PACKAGE" in i for i in installs
        ), installs


@pytest.mark.parametrize(
    "package",
    [
        "dark-factory-harness",
        "dark-factory-harness==1.0",
        "git+https://github.com/example/dark-factory-harness@main",
        "git+https://github.com/example/dark-factory-harness@0123abc",
        "https://example.org/dark_factory_harness-1.0-py3-none-any.whl",
        "http://example.org/x.whl#sha256=" + "0" * 64,
    ],
)
def test_unpinned_packages_are_refused(empty_repo: Path, capsys, package: str) -> None:
    args = ("init", "--ci", "github-actions", "--package", package)
    res = run_cli(capsys, "--repo", str(empty_repo), *args)
    assert res.code == 2 and "not pinned" in res.err, res.err
    assert not (empty_repo / ".github").exists() and not (empty_repo / "factory.yaml").exists()


def test_without_package_the_install_source_must_be_pinned(empty_repo: Path, capsys) -> None:
    """This checkout is installed editable from a folder, which no CI runner can fetch."""
    res = run_cli(capsys, "--repo", str(empty_repo), "init", "--ci", "github-actions")
    assert res.code == 2 and "--package" in res.err and len(res.err.splitlines()) == 1
    assert not (empty_repo / ".github").exists()


def _workflows(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.name: _load(p.read_text()) for p in sorted(folder.glob("workflows/*.yml"))}


def test_init_writes_issue_forms_and_workflows(generated: Path) -> None:
    names = sorted(p.relative_to(generated).as_posix() for p in generated.rglob("*.yml"))
    assert names == [
        "ISSUE_TEMPLATE/config.yml",
        "ISSUE_TEMPLATE/factory-bug.yml",
        "ISSUE_TEMPLATE/factory-feature.yml",
        "workflows/factory-ack.yml",
        "workflows/factory-audit.yml",
        "workflows/factory-health.yml",
        "workflows/factory-lessons.yml",
        "workflows/factory-triage.yml",
        "workflows/factory-work.yml",
    ]
    assert _load((generated / "ISSUE_TEMPLATE/config.yml").read_text()) == {
        "blank_issues_enabled": False
    }
    for form in ("bug", "feature"):
        data = _load((generated / f"ISSUE_TEMPLATE/factory-{form}.yml").read_text())
        required = [
            b["id"] for b in data["body"] if b.get("validations", {}).get("required") is True
        ]
        assert len(required) >= 2, form  # what to do and what to see: checkable in a browser


def test_init_ci_adds_its_files_beside_the_repositorys_own(
    empty_repo: Path, tmp_path: Path, capsys
) -> None:
    """On a clone of a repository with issue forms, a forms config and a workflow of its own,
    ``init --ci`` adds the factory's files and changes no byte of those; ``--force-workflows``
    overwrites only the factory's workflows, naming each; ``check`` is ok."""
    own = {
        ".github/ISSUE_TEMPLATE/bug.yml": "name: Bug report\ndescription: ours\nbody: []\n",
        ".github/ISSUE_TEMPLATE/idea.md": "---\nname: Feature request\nabout: ours\n---\n",
        ".github/ISSUE_TEMPLATE/config.yml": "blank_issues_enabled: true\n",
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
        "CLAUDE.md": "# Our conventions\n",
    }
    for rel, text in own.items():
        (empty_repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (empty_repo / rel).write_text(text)
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-qm", "our own forms and CI")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(empty_repo), str(clone))
    git(clone, "remote", "set-url", "origin", "https://github.com/acme/app.git")  # on GitHub
    args = ("--repo", str(clone), "init", "--ci", "github-actions", "--package", PACKAGE)
    res = run_cli(capsys, *args)
    assert res.code == 0, res.err
    assert {rel: (clone / rel).read_text() for rel in own} == own
    for rel in (".github/ISSUE_TEMPLATE/config.yml", "CLAUDE.md"):
        assert f"kept {rel}: it exists" in res.out
    assert "blank issues" not in res.out  # the repository's own config decides
    forms = clone / ".github" / "ISSUE_TEMPLATE"
    names = [
        _load(p.read_text().split("---")[1] if p.suffix == ".md" else p.read_text())["name"]
        for p in sorted(forms.iterdir())
        if p.name != "config.yml"
    ]
    assert len(names) == 4 and len(set(names)) == 4, names  # none named as one of theirs
    added = ["factory-bug.yml", "factory-feature.yml", "factory-triage.yml", "factory-work.yml"]
    assert all(next(clone.glob(f".github/*/{name}"), None) for name in added)
    assert "factory.yaml" in res.out and (clone / "factory_rules.md").is_file()
    work = clone / ".github/workflows/factory-work.yml"
    work.write_text("edited\n")
    res = run_cli(capsys, *args, "--force-workflows")
    assert "overwrote .github/workflows/factory-work.yml" in res.out
    assert "overwrote .github/workflows/factory-triage.yml" in res.out
    assert "overwrote" not in res.out.replace("overwrote .github/workflows/", "")
    assert work.read_text() != "edited\n" and (clone / "CLAUDE.md").read_text() == own["CLAUDE.md"]
    assert run_cli(capsys, "--repo", str(clone), "check").code == 0


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is installed by 'make install'"
    return subprocess.run(
        [node, str(WRAPPER), *map(str, files)], capture_output=True, text=True, timeout=120
    )


def _justified(out: str) -> list[str]:
    found = re.findall(r"^justified: .*/([\w-]+\.yml):\d+:\d+: (.*?)\. ", out, re.M)
    return [f"{name}: {message}" for name, message in found]


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_make_lint_runs_actionlint_on_what_init_writes(tmp_path: Path) -> None:
    assert "$(MAKE) --no-print-directory actionlint" in (ROOT / "Makefile").read_text()
    # the workflows 'factory init --ci github-actions --ack' writes pass actionlint: nothing
    # found but what the workflows justify at their line
    done = _make("actionlint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _justified(done.stdout) == JUSTIFIED, done.stdout
    header = "actionlint: the workflows 'factory init --ci github-actions --ack' writes"
    others = [line for line in done.stdout.splitlines() if not line.startswith("justified:")]
    assert others == [header], done.stdout
    assert _actionlint().returncode == 2  # no file: a usage error, not a pass
    # the linter is not blind: a broken workflow is reported, and fails (the linter's exit 1,
    # which make reports as the recipe's error)
    planted = tmp_path / "planted.yml"
    planted.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ matrix.nope }}\n"
        "      - run: echo ${{ github.evnt.issue.title }}\n"
    )
    done = _make("actionlint", f"WORKFLOWS={planted}")
    assert done.returncode != 0 and "Error 1" in done.stderr, done.stdout + done.stderr
    assert re.search(r"planted\.yml:6:\d+: property \"nope\" is not defined", done.stdout)
    assert re.search(r"planted\.yml:7:\d+: property \"evnt\" is not defined", done.stdout)


def test_the_acknowledgement_is_off_unless_asked_for(empty_repo: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(empty_repo), "init", "--ack")
    assert res.code == 2 and "--ack: only used with --ci" in res.err
    args = ("init", "--ci", "github-actions", "--package", PACKAGE)
    res = run_cli(capsys, "--repo", str(empty_repo), *args)
    assert res.code == 0
    workflows = sorted(p.name for p in (empty_repo / ".github" / "workflows").iterdir())
    assert workflows == [
        "factory-audit.yml",
        "factory-health.yml",
        "factory-lessons.yml",
        "factory-triage.yml",
        "factory-work.yml",
    ]
    # a repository without a forms config of its own: init's turns blank issues off, and says so
    assert "wrote .github/ISSUE_TEMPLATE/config.yml: blank issues are off" in res.out


def test_the_acknowledgement_says_when_triage_runs(generated: Path) -> None:
    workflows = _workflows(generated)
    ack, triage = workflows["factory-ack.yml"], workflows["factory-triage.yml"]
    assert ack[True] == {"issues": {"types": ["opened"]}}  # YAML 1.1 reads `on` as true
    minute, hour = triage[True]["schedule"][0]["cron"].split()[:2]
    assert f"({int(hour):02d}:{int(minute):02d} UTC)" in ack["env"]["TRIAGE_AT"]
    assert ack["jobs"]["apply"]["needs"] == "plan"


def test_the_workflows_pass_zizmor(generated: Path) -> None:
    zizmor = Path(sys.executable).with_name("zizmor")
    files = [str(p) for p in sorted(generated.glob("workflows/*.yml"))]
    done = subprocess.run(
        [str(zizmor), "--offline", "--format", "json", "--min-severity", "low", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 'self-repository' only suggests GitHub's newer "$/" spelling of a local reusable
    # workflow; "./" is the one actionlint and GitHub Enterprise Server understand.
    findings = [
        f["ident"] for f in json.loads(done.stdout or "[]") if f["ident"] != "self-repository"
    ]
    assert findings == [], (findings, done.stderr[-2000:])


def _run_scripts(workflows: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (name, job_id, step["run"])
        for name, wf in workflows.items()
        for job_id, job in wf["jobs"].items()
        for step in job.get("steps", [])
        if "run" in step
    ]


def test_no_expression_inside_a_run_script(generated: Path) -> None:
    scripts = _run_scripts(_workflows(generated))
    assert scripts
    for name, job, script in scripts:
        assert "${{" not in script, (name, job, script)  # untrusted values come through env
        assert "github.event" not in script, (name, job, script)


def test_least_privilege_and_the_kill_switch(generated: Path) -> None:
    workflows = _workflows(generated)
    for name, wf in workflows.items():
        assert wf["permissions"] == {}, name  # nothing by default
        for job_id, job in wf["jobs"].items():
            where = f"{name}:{job_id}"
            assert "permissions" in job, where
            assert "vars.FACTORY_ENABLED != 'false'" in job["if"], where
            writes = {k for k, v in job["permissions"].items() if v in WRITE}
            text = json.dumps(job)
            runs_agent = "ANTHROPIC_API_KEY" in text
            if "uses" in job:  # a reusable workflow: its own jobs are checked
                called = ("factory-work.yml", "factory-health.yml")
                assert job["uses"] in [f"./.github/workflows/{w}" for w in called], where
                continue
            if runs_agent:
                assert not writes, f"{where}: an agent job must not write ({writes})"
            if writes:
                factory_runs = [
                    s["run"] for s in job["steps"] if "run" in s and "factory" in s["run"]
                ]
                assert all(
                    re.match(r"^(factory (apply|queue)\b|echo \"queue=\$\(factory queue)", r)
                    for r in factory_runs
                ), (where, factory_runs)
            for step in job["steps"]:
                if "uses" in step:
                    assert PINNED.match(step["uses"]), (where, step["uses"])
                    if step["uses"].startswith("actions/checkout@"):
                        assert step["with"]["persist-credentials"] is False, where
    work = workflows["factory-work.yml"]
    assert "inputs.issue" in work["concurrency"]["group"]
    assert work["concurrency"]["cancel-in-progress"] is False
    triage = workflows["factory-triage.yml"]
    on = triage[True]  # YAML 1.1 reads the key `on` as true
    assert on["schedule"] and "workflow_dispatch" in on


def test_check_says_what_the_github_forge_will_need(
    empty_repo: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    assert run_cli(capsys, "--repo", str(empty_repo), "init", "--forge", "github").code == 0
    res = run_cli(capsys, "--repo", str(empty_repo), "check", "--json")
    warnings = "\n".join(res.json()["warnings"])
    assert "github.repository: not set" in warnings and "GITHUB_TOKEN: not set" in warnings
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_x")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    res = run_cli(capsys, "--repo", str(empty_repo), "check", "--json")
    assert "github: acme/app through https://api.github.com" in res.json()["notes"]
    assert "ghs_x" not in res.out


def test_only_the_validate_job_checks_the_holdout_out(generated: Path) -> None:
    """The implementer's job never has the journeys; the validator's and production's health
    (which runs no agent) have them beside the code (FACTORY_HOLDOUT), never inside it."""
    workflows = _workflows(generated)
    for name, wf in workflows.items():
        for job_id, job in wf["jobs"].items():
            text = json.dumps(job)
            checks = ("health", "heal", "validate")  # production's health: no agent there
            if (name, job_id) == ("factory-work.yml", "validate") or (
                name == "factory-health.yml" and job_id in checks
            ):
                assert "ANTHROPIC_API_KEY" not in text or name == "factory-work.yml", job_id
                continue
            assert "HOLDOUT_REPOSITORY" not in text and 'FACTORY_HOLDOUT"' not in text, job_id
            assert "secrets.FACTORY_HOLDOUT_TOKEN" not in text or "uses" in job, job_id
    validate = workflows["factory-work.yml"]["jobs"]["validate"]
    checkouts = [s for s in validate["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    paths = {s["with"]["path"] for s in checkouts}
    assert paths == {"repo", "holdout"}
    (holdout,) = [s for s in checkouts if s["with"]["path"] == "holdout"]
    assert holdout["with"]["repository"] == "${{ vars.FACTORY_HOLDOUT_REPOSITORY }}"
    assert validate["env"]["FACTORY_HOLDOUT"] == "${{ github.workspace }}/holdout"
    assert validate["defaults"]["run"]["working-directory"] == "repo"


def test_a_write_token_reaches_only_an_apply_job(generated: Path) -> None:
    """A token that makes GitHub run CI on the factory's PR may write: no job that runs an
    agent or the repository's code ever holds it."""
    for name, wf in _workflows(generated).items():
        for job_id, job in wf["jobs"].items():
            text = json.dumps(job)
            if "secrets.FACTORY_WRITE_TOKEN" not in text or "uses" in job:
                continue
            assert job_id.startswith("apply"), (name, job_id)
            assert "ANTHROPIC_API_KEY" not in text, (name, job_id)
            runs = [s["run"] for s in job["steps"] if "run" in s]
            assert all(r.startswith(("factory apply", "python -m pip install")) for r in runs)


def test_the_install_source_is_read_from_pep_610_records() -> None:
    from harness.config.pinning import pinned_from_direct_url

    commit = "a" * 40
    git_url = {"url": "https://github.com/o/r", "vcs_info": {"vcs": "git", "commit_id": commit}}
    assert pinned_from_direct_url(json.dumps(git_url)) == (
        f"dark-factory-harness @ git+https://github.com/o/r@{commit}"
    )
    wheel = {
        "url": "https://e.org/x-1.0-py3-none-any.whl",
        "archive_info": {"hashes": {"sha256": "b" * 64}},
    }
    assert pinned_from_direct_url(json.dumps(wheel)).endswith(
        "x-1.0-py3-none-any.whl#sha256=" + "b" * 64
    )
    local = {"url": "file:///src/harness", "dir_info": {"editable": True}}
    branch = {"url": "https://github.com/o/r", "vcs_info": {"vcs": "git", "commit_id": "main"}}
    for record in (
        local,
        branch,
        {"url": "http://e.org/x.whl", "archive_info": {"hash": "sha256=" + "c" * 64}},
    ):
        assert pinned_from_direct_url(json.dumps(record)) is None, record
    assert pinned_from_direct_url("not json") is None


UPLOAD = "actions/upload-artifact@b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882"
# each way a job that has seen the hold-out could publish its state or the hold-out: the
# workflow it changes, the job, and what it does to it (a step's upload path, or a step put
# before its upload); the first five were flagged before, the rest are the side doors
LEAKS: list[tuple[str, str, str, Any]] = [
    (
        "factory-health.yml",
        "heal",
        "path",
        "${{ runner.temp }}/plan\n${{runner.temp}}/factory-state/\n",
    ),
    ("factory-work.yml", "validate", "path", "${{ runner.temp }}"),
    (
        "factory-work.yml",
        "validate",
        "path",
        "${{ runner.temp }}/merge-plan\n${{ github.workspace }}/holdout",
    ),
    ("factory-work.yml", "validate", "path", "holdout"),
    ("factory-health.yml", "heal", "path", "${{ github.workspace }}/holdout/*.yaml"),
    ("factory-health.yml", "heal", "path", "${{ runner.temp }}/factory-*"),  # a glob
    ("factory-health.yml", "heal", "path", "${{ env.RUNNER_TEMP }}/factory-state"),
    (
        "factory-work.yml",
        "validate",
        "step",
        {"run": 'tar czf "$RUNNER_TEMP/merge-plan/s.tgz" -C "$RUNNER_TEMP/plan" state'},
    ),
    (
        "factory-work.yml",
        "validate",
        "step",
        {"run": 'ln -s "$RUNNER_TEMP/plan/state" "$RUNNER_TEMP/merge-plan/state"'},
    ),
    (
        "factory-health.yml",
        "heal",
        "step",
        {
            "uses": "actions/cache@v4",
            "with": {"path": "${{ runner.temp }}/factory-state", "key": "f"},
        },
    ),
    (
        "factory-health.yml",
        "heal",
        "step",
        {"run": 'cat "$RUNNER_TEMP"/factory-state/evidence/*/*.txt >> "$GITHUB_STEP_SUMMARY"'},
    ),
    ("factory-work.yml", "validate", "step", {"run": 'ls -R "$FACTORY_HOLDOUT"'}),  # the log
    (
        "factory-work.yml",
        "validate",
        "step",
        {
            "run": 'echo "FACTORY_STATE_DIR=${{ runner.temp }}/mine" >> "$GITHUB_ENV"\ncp -r "$RUNNER_TEMP/mine" "$RUNNER_TEMP/merge-plan/"'
        },
    ),
    ("factory-work.yml", "validate", "state", ".factory"),  # the default state in the checkout
    (
        "factory-health.yml",
        "heal",
        "step",
        {"run": 'gh release upload v1 "$RUNNER_TEMP/factory-state/state.db"'},
    ),
]
# what a job may do: upload its plan, write a summary of its own, name a folder beside the state
FINE: list[tuple[str, str, str, Any]] = [
    ("factory-work.yml", "implement", "path", "${{ runner.temp }}"),  # it never has the hold-out
    ("factory-health.yml", "heal", "path", "${{ runner.temp }}/factory-plan"),
    ("factory-health.yml", "heal", "step", {"run": 'echo "healed" >> "$GITHUB_STEP_SUMMARY"'}),
    ("factory-work.yml", "validate", "step", {"run": 'cat "$RUNNER_TEMP/merge-plan/plan.jsonl"'}),
]


def _variant(folder: Path, name: str, change: tuple[str, str, str, Any]) -> None:
    """The generated workflow ``change`` names, changed as it says, as ``name`` in ``folder``."""
    file, job, how, what = change
    workflow = _load((folder / file).read_text())
    steps = workflow["jobs"][job]["steps"]
    (at,) = [n for n, s in enumerate(steps) if str(s.get("uses", "")).startswith(UPLOAD)]
    if how == "path":
        steps[at]["with"]["path"] = what
    elif how == "step":
        steps.insert(at, what)
    else:  # no state folder set: the factory's own default, uploaded
        for step in steps:
            step.get("env", {}).pop("FACTORY_STATE_DIR", None)
        steps[at]["with"]["path"] = what
    (folder / name).write_text(yaml.dump(workflow, Dumper=yaml.CSafeDumper, sort_keys=False))


def test_check_names_each_step_that_could_publish_the_state_or_the_holdout(
    empty_repo: Path, capsys
) -> None:
    """``factory check`` on the workflows ``init`` writes is quiet; on fifteen variants, each a
    way a job that has seen the hold-out could publish its state folder or the hold-out (an
    upload of either, however spelled or globbed; a tarball or a link put in the plan; a
    cache; the step summary; the log; a state folder set through ``$GITHUB_ENV``; the default
    state in the checkout; a release), it names each workflow's file, job and step, and
    nothing else: not the implement job (which never has the hold-out) uploading its state,
    nor a job that uploads only its plan or summarises itself."""
    args = ("init", "--ci", "github-actions", "--package", PACKAGE)
    assert run_cli(capsys, "--repo", str(empty_repo), *args).code == 0
    folder = empty_repo / ".github" / "workflows"

    def leaks() -> dict[str, str]:
        res = run_cli(capsys, "--repo", str(empty_repo), "check", "--json")
        found = {
            e["file"]: e["problem"] for e in res.json()["errors"] if e["key"].startswith("jobs.")
        }
        assert not found or res.code != 0, res.out
        return found

    assert leaks() == {}
    for n, change in enumerate(LEAKS, start=1):
        _variant(folder, f"leak-{n}.yml", change)
    for n, change in enumerate(FINE, start=1):
        _variant(folder, f"fine-{n}.yml", change)
    (folder / "empty.yml").write_text("name: nothing to run\n")  # no jobs, no text: no crash
    (folder / "binary.yml").write_bytes(b"\xff\xfe")
    found = leaks()
    assert sorted(found) == sorted(f".github/workflows/leak-{n}.yml" for n in range(1, 16))
    said = found[".github/workflows/leak-6.yml"]
    assert said.startswith("step 7 could publish $RUNNER_TEMP/factory-*, which reaches "), said
    assert "never its state or the hold-out" in said
    assert "could publish $RUNNER_TEMP/plan/state" in found[".github/workflows/leak-9.yml"]
    res = run_cli(capsys, "--repo", str(empty_repo), "check")
    assert ".github/workflows/leak-15.yml: jobs.heal: step 7 could publish" in res.err, res.err
