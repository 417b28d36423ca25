"""The security gate on a real repository, with the real analysers in the sandbox: only what a
change adds counts (production's findings are the baseline, known by fingerprint however
the code around them moves), and each kind of finding is named in the gate's evidence."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.analysers import Analyser, added, run_analysers, shipped_data, workspace
from harness.artifacts import CheckResult, GateResult, PrCandidate, Routing
from harness.config.models import Rules, Security
from harness.config.settings import load_settings
from harness.forge.base import Label
from harness.git.repo import GitRepo
from harness.implement.gates import secrets_gate, setup_code_gate
from harness.implement.security import dependency_changes, security_gate
from harness.review.trust import review_gate
from harness.sandbox.forks import Ask
from harness.sandbox.shared import shared
from harness.sandbox.warm import Warm
from harness.services import Services, open_services
from harness.store.db import Store
from harness.validate.actions import ROUTE_LABELS
from harness.validate.route import FOR_A_PERSON, decide_route, setup_code_seen
from tests.cli_helpers import run_cli
from tests.factory_repo import git, make_factory_repo
from tests.implement.conftest import accepted_issue, make_app_repo
from tests.implement.test_gates import DYNAMIC
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store_reads import pull_requests
from tests.validate.test_routing import evidence

# production already runs a shell with a fixed command: a finding the gate must not count
VIEWS = (
    "import subprocess\n\n\ndef uptime():\n"
    "    return subprocess.run('uptime', shell=True, capture_output=True)\n"
)
SHELL = "\n\ndef run(request):\n    return subprocess.run(request.args['cmd'], shell=True)\n"
KEY = "AKIAQ3EGRUSGOZ7XHB5M"  # AWS-shaped, and not a real key


def _change(repo: Path, files: dict[str, str], message: str) -> tuple[str, str, list[str]]:
    base = git(repo, "rev-parse", "HEAD").strip()
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "reset", "-q", "--hard", base)  # each change on the same production
    return base, head, sorted(files)


@pytest.mark.sandbox
def test_the_lens_names_what_a_change_adds_and_nothing_production_had(tmp_path: Path) -> None:
    repo = make_factory_repo(tmp_path / "r")
    (repo / "views.py").write_text(VIEWS)
    (repo / "requirements.txt").write_text("flask==3.0.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "production")
    settings = load_settings(repo, tmp_path / "state")
    g, rules = GitRepo(repo), Security()

    def gate(files: dict[str, str]) -> tuple[bool, str]:
        found = security_gate(settings, g, *_change(repo, files, "change"), rules)
        return found.passed, found.evidence

    with shared():  # one warm interpreter for every change, as in a cycle
        passed, said = gate({"views.py": VIEWS + SHELL})
        assert not passed and "B602 (high) views.py:" in said, said
        assert said.count("B602") == 1  # production's own shell=True is not new
        passed, said = gate({"tests/fixtures/aws.json": f'{{"aws_access_key_id": "{KEY}"}}\n'})
        assert not passed and "AWS Access Key (high) tests/fixtures/aws.json:1" in said, said
        assert KEY not in said
        sri = 'integrity="sha384-QWTKZyjpPEjISv5WaRU9OFeRpok6YctnYmDr5pNlyT2bRjXh0JMhjY6hW+ALEwIH"'
        passed, said = gate({"base.html": f'<link href="/b.css" rel="stylesheet" {sri}>\n'})
        assert passed, said  # a Subresource Integrity digest is a public hash, not a secret
        # a finding below the gate's severity does not refuse the change, but it is named
        passed, said = gate({"checks.py": "def positive(x):\n    assert x > 0\n"})
        assert passed and "new findings below high: B101 (low) checks.py:2 Use of assert" in said
        # test code's asserts, passwords and requests to its own loopback server: counted apart
        test = (
            "import urllib.request\n\n\ndef test_login(client):\n    password = 'hunter2'\n"
            "    assert client.login(password=password)\n"
            "    urllib.request.urlopen('http://127.0.0.1:8000/health')\n"
            "    urllib.request.urlopen('http://example.com/')\n"
        )
        passed, said = gate({"tests/test_login.py": test})
        assert "3 test-only findings (B101, B105, B310)" in said, said
        assert "B310 (medium) tests/test_login.py:8" in said and ":7" not in said, said
        passed, said = gate({"requirements.txt": "flask==3.0.1\nrequests==2.32.3\n"})
        assert not passed and "does not allow: requests" in said, said
        assert "dependencies upgraded: flask ==3.0.0 -> ==3.0.1" in said
        # a clean change, moving production's finding down the file: nothing new, it passes
        passed, said = gate(
            {"views.py": "import os\n" + VIEWS + "\n\ndef cwd():\n    return os.getcwd()\n"}
        )
        assert passed, said
        assert said.startswith("no new finding at or above high")


@pytest.mark.sandbox
def test_one_request_answers_every_warm_analyser_of_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bandit and detect-secrets judge a change in ONE request to the warm interpreter (one
    fork: tests/sandbox/test_warm.py shows that a request's asks share one), each answer read
    apart: a change that gives each of them a finding is refused for both."""
    repo = make_factory_repo(tmp_path / "r")
    settings = load_settings(repo, tmp_path / "state")
    requests: list[list[str]] = []
    real = Warm.run

    def counted(warm: Warm, folder: Path, asks: list[Ask]) -> list[tuple[str, str]]:
        requests.append([ask.get("module", "shell") for ask in asks])
        return real(warm, folder, asks)

    monkeypatch.setattr(Warm, "run", counted)
    files = {"run.py": "import subprocess\n" + SHELL, "aws.json": f'{{"key": "{KEY}"}}\n'}
    found = security_gate(settings, GitRepo(repo), *_change(repo, files, "both"), Security())
    assert not found.passed
    assert "B602 (high) run.py:" in found.evidence, found.evidence
    assert "AWS Access Key (high) aws.json:1" in found.evidence, found.evidence
    assert requests == [["bandit", "detect_secrets"]]


@pytest.mark.sandbox
def test_an_analyser_its_fork_never_answered_refuses_the_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork that dies part-way (here by a signal, after Bandit answered) leaves each analyser
    it did not answer named as one that gave no answer, and the gate refuses: silence is never
    read as no finding. The change's only finding is the secret the unanswered detect-secrets
    would name; Bandit's clean answer is read."""
    repo = make_factory_repo(tmp_path / "r")
    settings = load_settings(repo, tmp_path / "state")
    dies = "import os, signal; os.path.isdir('after') and os.kill(os.getpid(), signal.SIGKILL)"
    crash = Analyser(  # killed in a change's fork only, not in its warm-up (no "after" there)
        name="crash",
        command=f"{{python}} -I -m timeit -n 1 -r 1 -s {shlex.quote(dies)} pass",
        warm=True,
    )
    shipped = shipped_data()
    bandit, secrets = shipped.analysers
    three = shipped.model_copy(update={"analysers": [bandit, crash, secrets]})
    monkeypatch.setattr("harness.analysers.shipped_data", lambda: three)
    change = _change(repo, {"keys.py": f'AWS = "{KEY}"\n'}, "a secret")
    found = security_gate(settings, GitRepo(repo), *change, Security())
    assert not found.passed, found.evidence
    unanswered = "gave no JSON: no answer: its fork ended first"
    assert f"crash {unanswered}" in found.evidence, found.evidence
    assert f"detect-secrets {unanswered}" in found.evidence, found.evidence
    assert "bandit" not in found.evidence and KEY not in found.evidence


def test_a_dependency_diff_reads_each_manifest_by_name(tmp_path: Path) -> None:
    g = GitRepo.init(tmp_path / "r", "main")
    files = {
        "package.json": '{"dependencies": {"left-pad": "^1.0.0"}, "devDependencies": {"a": "1"}}',
        "poetry.lock": '[[package]]\nname = "idna"\nversion = "3.6"\n',
        "Pipfile.lock": '{"default": {"six": {"version": "==1.16.0"}}}',
        "pyproject.toml": '[project]\nname = "x"\ndependencies = ["Flask>=3"]\n',
    }
    for name, text in files.items():
        (g.path / name).write_text(text)
    base = g.commit_all("base")
    (g.path / "package.json").write_text('{"dependencies": {"left-pad": "^1.0.0", "evil": "1"}}')
    (g.path / "poetry.lock").write_text('[[package]]\nname = "idna"\nversion = "3.7"\n')
    (g.path / "Pipfile.lock").write_text('{"default": {"six": {"version": "==1.17.0"}}}')
    (g.path / "pyproject.toml").write_text('[project]\ndependencies = ["flask>=3", "Rich"]\n')
    head = g.commit_all("change")
    assert base and head
    found = dependency_changes(g, base, head, sorted(files))
    assert found.declared_in == {"evil": "package.json", "rich": "pyproject.toml"}
    assert found.changed == {
        "added": ["evil", "rich"],
        "removed": ["a"],
        "upgraded": ["idna 3.6 -> 3.7", "six ==1.16.0 -> ==1.17.0"],
        "unreadable": [],
    }


@pytest.mark.sandbox
def test_a_whole_tree_and_a_projects_own_command(tmp_path: Path) -> None:
    repo = make_factory_repo(tmp_path / "r")
    settings = load_settings(repo, tmp_path / "state")
    own = Analyser(
        name="audit",
        command='printf \'{"results": [{"rule": "R1", "severity": "MEDIUM", '
        '"path": "./pkg/a.py", "line": 4, "message": "m"}]}\'',
    )
    broken = Analyser(name="broken", command="echo not json; echo oops >&2")
    bandit = next(a for a in shipped_data().analysers if a.name == "bandit")
    with workspace(settings) as where:
        (where.path / "pkg").mkdir(parents=True)
        (where.path / "pkg" / "a.py").write_text(VIEWS)
        (where.path / "pkg" / "b.py").write_text("if True:\n    " + VIEWS.replace("\n", "\n    "))
        found = run_analysers(settings, where, ["pkg/a.py", "pkg/b.py"], [bandit, own, broken])
    assert found.errors == ["broken gave no JSON: oops"]
    shells = [f for f in found.findings if f.rule == "B602"]
    assert {f.path for f in shells} == {"pkg/a.py", "pkg/b.py"}
    # the same code indented elsewhere: one fingerprint per path, the snippet normalised
    assert shells[0].snippet == shells[1].snippet and shells[0].fingerprint != shells[1].fingerprint
    (mine,) = [f for f in found.findings if f.analyser == "audit"]
    assert (mine.rule, mine.severity, mine.path, mine.snippet) == (
        "R1",
        "medium",
        "pkg/a.py",
        "def uptime():",
    )
    assert added(found.findings, found.findings) == []


@pytest.mark.sandbox
def test_a_change_the_lens_stops_opens_its_pull_request_and_waits_for_a_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: AnthropicStandIn
) -> None:
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Run a maintenance command")
    res = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert res.code == 0, res.err  # a gate for a person: implementation goes on
    store = Store.open(tmp_path / "state")
    ((_, candidate),) = store.artifacts(PrCandidate, number)
    (lens,) = [g for g in candidate.gates if g.name == "security"]
    assert not lens.passed and "B602 (high) ops.py:5" in lens.evidence, lens
    (pr,) = pull_requests(store, number)
    assert "| security | FAIL | B602 (high) ops.py:5" in pr.body  # the PR says it
    checked = CheckResult(
        sha="c" * 40,
        tree="t" * 40,
        journeys=[],
        journeys_passed=True,
        production_sha="p" * 40,
        head=candidate.head,
        validator={
            "output": {"verdict": "pass", "score": 0.97},
            "observed": [{"tool": "browser_snapshot", "input": {}, "seen": "f" * 64}],
        },
    )
    routing = decide_route(Rules(), candidate, checked, "success")
    assert routing.route == "needs_review" and "security: B602 (high) ops.py:5" in routing.reason


def _decided(
    services: Services, repo: GitRepo, change: tuple[str, str, list[str]], *lens: GateResult
) -> Routing:
    """Where validation's decide step routes ``change`` when everything but the gates that
    read its patch passed (tests, journeys, the validator, CI): the secrets gate and the lens
    as the implementation computes them on it; no person approved it."""
    base, head, _ = change
    _, patch = repo.tree_change(base, head)
    gates = [secrets_gate(patch), *lens]
    # only gates for a person failed: the implementation opens the pull request
    assert all(gate.passed for gate in gates if gate.name not in FOR_A_PERSON), gates
    candidate, checked = evidence()
    candidate = candidate.model_copy(update={"gates": gates, "head": head})
    rules = services.settings.governance.rules
    routing = decide_route(rules, candidate, checked, "success")
    return review_gate(services, candidate.spec.number, head, "chore", routing)


# production's vetted shell call, suppressed by its maintainer: the baseline
VETTED = (
    "import subprocess\n\nCMD = ['uptime']\n\n\ndef uptime():\n"
    "    return subprocess.Popen(CMD, shell=True)  # nosec B602\n"
)
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"  # Stripe-shaped, and not a real key
HEX_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.mark.sandbox
def test_the_lens_judges_the_change_not_its_comments(tmp_path: Path) -> None:
    """What the change writes to switch its judge off switches nothing off: its own ``# nosec``
    and allow-list pragma, a line that merely contains the integrity exclusion's words, a
    second copy of production's vetted call, Python in a file not named ``*.py``; an
    Alembic-style revision and an SRI digest are still no secrets, and a clean change
    passes."""
    repo = make_factory_repo(tmp_path / "r")
    (repo / "ops.py").write_text(VETTED)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "production")
    settings = load_settings(repo, tmp_path / "state")
    g = GitRepo(repo)
    shell = "import subprocess\n\n\ndef run(c):\n    return subprocess.Popen(c, shell=True)  # "
    refused = {
        "nosec": ({"run.py": shell + "nosec\n"}, "B602 (high) run.py:5"),
        "nosec B602": ({"run.py": shell + "nosec B602\n"}, "B602 (high) run.py:5"),
        "pragma": (
            {"pay.py": f'STRIPE_KEY = "{STRIPE}"  # pragma: allowlist secret\n'},
            "Stripe Access Key (high) pay.py:1",
        ),
        "integrity": (
            {"settings.py": f'SECRET_KEY = "{HEX_KEY}"  # integrity=sha256-abc\n'},
            "Hex High Entropy String (high) settings.py:1",
        ),
        "copy": (
            {"ops.py": VETTED + "\n\ndef again():\n    return subprocess.Popen(CMD, shell=True)\n"},
            "B602 (high) ops.py:11",
        ),
        "shebang": (
            {
                "bin/tool": "#!/usr/bin/env python3\nimport os\nimport sys\n\nos.system(sys.argv[1])\n"
            },
            "B605 (high) bin/tool:5",
        ),
    }
    services = open_services(repo, tmp_path / "state", "scripted")
    with shared():  # one warm interpreter for every change
        for name, (files, said) in refused.items():
            change = _change(repo, files, name)
            found = security_gate(settings, g, *change, Security())
            assert not found.passed and said in found.evidence, (name, found.evidence)
            # it waits for a person: its pull request opens and validation routes it to review
            routing = _decided(services, g, change, found)
            assert routing.route == "needs_review" and said in routing.reason, (name, routing)
            assert ROUTE_LABELS[routing.route] == Label.NEEDS_REVIEW
        assert STRIPE not in found.evidence
        passing = {
            "migrations/versions/ae1027a6acf_add.py": (
                'revision = "ae1027a6acf"\ndown_revision: str | None = "37f06a334dbf"\n'
            ),
            "base.html": '<link integrity="sha384-QWTKZyjpPEjISv5WaRU9OFeRpok6YctnYmDr5pNlyT2bRjX">\n',
            "ops.py": "import os\n" + VETTED,  # production's own suppression moved down
        }
        change = _change(repo, passing, "clean")
        found = security_gate(settings, g, *change, Security())
    assert found.passed, found.evidence
    assert _decided(services, g, change, found).route == "merge"


def test_a_dependency_is_named_in_every_manifest_the_setup_reads(tmp_path: Path) -> None:
    """A package added in a file production's requirements include (``-r``), or in any
    manifest format the setup detection knows, is named; a changed file declaring packages
    in a form the diff cannot read is named too."""
    base = {
        "requirements.txt": "flask==3.0.0 \\\n    --hash=sha256:abc\n-r deps.in\n",
        "deps.in": "click==8.1.0\n",
        "setup.cfg": "[options]\ninstall_requires =\n    flask>=3\n[options.extras_require]\ndev =\n",
        "setup.py": "from setuptools import setup\n\nsetup(name='x', install_requires=['flask'])\n",
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools"]\n\n[dependency-groups]\n'
            'test = ["pytest", {include-group = "lint"}]\nlint = ["ruff"]\n\n'
            '[tool.uv]\ndev-dependencies = ["mypy"]\n'
        ),
        "Pipfile": '[packages]\nflask = "*"\n',
        "Gemfile": 'source "https://rubygems.org"\ngem "rails", "~> 7.0"\n',
        "Cargo.toml": '[package]\nname = "x"\n\n[dependencies]\nserde = "1.0"\n',
        "package.json": '{"dependencies": {"a": "1"}, "overrides": {"b": "1"}}',
        "environment.yml": "dependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip:\n    - flask\n",
        "tox.ini": "[testenv]\ndeps =\n    pytest\n    -r{toxinidir}/requirements-test.txt\n",
        "requirements-test.txt": "mock\n",
    }
    added = {
        "requirements.txt": "flask==3.0.1 \\\n    --hash=sha256:abd\n-r deps.in\n",
        "deps.in": "click==8.1.0\ninc-r\n",
        "setup.cfg": base["setup.cfg"] + "    cfg-extra\n",
        "setup.py": base["setup.py"].replace("['flask']", "['flask', 'setup-py']"),
        "pyproject.toml": base["pyproject.toml"]
        .replace('["setuptools"]', '["setuptools", "build-req"]')
        .replace('["ruff"]', '["ruff", "group-735"]')
        .replace('["mypy"]', '["mypy", "uv-dev"]'),
        "Pipfile": base["Pipfile"] + 'pipfile-pkg = "*"\n',
        "Gemfile": base["Gemfile"] + "gem 'ruby-gem'\n",
        "Cargo.toml": base["Cargo.toml"] + 'rust-crate = { version = "1" }\n',
        "package.json": '{"dependencies": {"a": "1"}, "overrides": {"b": "1", "npm-override": "2"}}',
        "environment.yml": base["environment.yml"]
        .replace("  - pip:", "  - conda-pkg=1\n  - pip:")
        .replace("- flask", "- flask\n    - pip-in-conda"),
        "tox.ini": base["tox.ini"].replace("    pytest\n", "    pytest\n    py311: tox-dep\n"),
        "requirements-test.txt": "mock\ntox-included\n",
    }
    g = GitRepo.init(tmp_path / "r", "main")
    for name, text in base.items():
        (g.path / name).write_text(text)
    before = g.commit_all("production")
    for name, text in added.items():
        (g.path / name).write_text(text)
    after = g.commit_all("change")
    assert before and after
    found = dependency_changes(g, before, after, sorted(added)).changed
    named = "inc-r cfg-extra setup-py build-req group-735 uv-dev pipfile-pkg ruby-gem rust-crate"
    named += " npm-override conda-pkg pip-in-conda tox-dep tox-included"
    assert found["added"] == sorted(named.split()), found
    assert found["upgraded"] == ["flask ==3.0.0 -> ==3.0.1"]
    assert (found["removed"], found["unreadable"]) == ([], [])
    (g.path / "setup.py").write_text(
        "from setuptools import setup\n\nsetup(install_requires=DEPS)\n"
    )
    (g.path / "Gemfile").write_text(added["Gemfile"] + "gem name_from_a_variable\n")
    (g.path / "deps.in").write_text("-r ../../outside.txt\n")
    unread = g.commit_all("unreadable")
    assert unread
    found = dependency_changes(g, after, unread, ["Gemfile", "deps.in", "setup.py"]).changed
    assert found["unreadable"] == ["Gemfile", "requirements.txt", "setup.py"], found


@pytest.mark.sandbox
def test_a_package_slipped_into_what_setup_reads_waits_for_a_person(tmp_path: Path) -> None:
    """Production's set-up is ``./setup.sh``, which installs the project, whose build backend
    reads its dependencies from ``deps.txt`` (setuptools' dynamic metadata). ``evilpkg`` added
    there, not a known manifest by name, is an added dependency the static reading names with
    its file (the first answer), and, with what the trace saw set-up read, a set-up change;
    the change waits for a person. (A list only a script reads is the trace's and the
    installed distributions' to name: ``tests/sandbox/test_setup_observed.py``.)"""
    setup = "#!/bin/sh\nset -e\npip install .\n"
    repo = make_factory_repo(
        tmp_path / "r", config={"commands": {"test": "true", "setup": "./setup.sh"}}
    )
    production = {"setup.sh": setup, "pyproject.toml": DYNAMIC, "deps.txt": "flask>=3\n"}
    for name, text in production.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "production's set-up")
    settings = load_settings(repo, tmp_path / "state")
    commands = settings.config.commands
    services = open_services(repo, tmp_path / "state", "scripted")
    g = GitRepo(repo)
    with shared():
        path = "deps.txt"
        change = _change(repo, {path: production[path] + "evilpkg\n"}, path)
        found = security_gate(settings, g, *change, Security())
        said = f"dependency added that factory_rules.md does not allow: evilpkg ({path})"
        assert not found.passed and said in found.evidence, found.evidence
        setup_code = setup_code_gate(change[2], commands.setup_inputs, commands.setup)
        assert setup_code.passed, setup_code  # deps.txt is no set-up input by name
        # what validation's trace sees pip open of the change: set-up code
        (seen,) = setup_code_seen(
            CheckResult.model_validate({**evidence()[1].model_dump(), "setup_offline_for": [path]})
        )
        routing = _decided(services, g, change, found, seen)
        assert routing.route == "needs_review" and said in routing.reason, routing
        assert (
            f"setup_code: the change touches what set-up was seen to read: {path}" in routing.reason
        )
