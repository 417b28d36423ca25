"""Set-up observed, not parsed (docs/sandbox.md, "Set-up observed"): production's set-up runs
under its file-access trace, and what it opened is kept with it; a change to any of that is
set-up code, set up again offline (never from the kept set-up), and what its set-up left
installed is compared with production's by the environment's own metadata, each difference
named with its file. Packages come from a wheelhouse in the repository: no test goes online."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import zipfile
from pathlib import Path

import pytest

from harness.config.settings import Settings, load_settings
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.implement.gates import setup_code_gate
from harness.sandbox.bwrap import sandbox_available
from harness.sandbox.policy import Prepared, prepare_worktree, touched
from harness.sandbox.shared import shared
from harness.validate.evidence import setup_failed
from harness.validate.route import decide_route, setup_code_seen
from tests.factory_repo import git, make_factory_repo
from tests.validate.test_routing import evidence

needs_strace = pytest.mark.skipif(
    not sandbox_available() or shutil.which("strace") is None, reason="bwrap or strace missing"
)
IGNORED = ".factory/\nsite/\nmade.txt\n"


def wheel(folder: Path, name: str, version: str) -> None:
    """A wheel of one empty module: the distribution ``name`` at ``version``."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = []
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as packed:
        for path, text in files.items():
            packed.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
            rows.append(f"{path},sha256={digest.decode()},{len(text)}")
        packed.writestr(f"{info}/RECORD", "\n".join([*rows, f"{info}/RECORD,,"]) + "\n")


def production(tmp_path: Path, setup: str, files: dict[str, str]) -> tuple[Path, str]:
    """A repository whose ``commands.setup`` is ``setup``, holding ``files`` and a wheelhouse
    (okpkg 2.0 and 3.0, evilpkg 1.0), committed on ``main``."""
    repo = make_factory_repo(
        tmp_path / "repo", config={"commands": {"test": "true", "setup": setup}}
    )
    (repo / "wheelhouse").mkdir()
    for name, version in (("okpkg", "2.0"), ("okpkg", "3.0"), ("evilpkg", "1.0")):
        wheel(repo / "wheelhouse", name, version)
    for name, text in {**files, ".gitignore": IGNORED}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "production's set-up")
    return repo, git(repo, "rev-parse", "HEAD").strip()


def change(repo: Path, base: str, files: dict[str, str]) -> str:
    """A commit on ``base`` writing ``files``; production stays at ``base``."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a change")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "reset", "-q", "--hard", base)
    return head


def prepared(settings: Settings, repo: Path, trusted: str, head: str) -> Prepared:
    trees = WorktreeManager.of(GitRepo(repo), settings.state_dir)
    path = trees.create_detached(trusted, f"t-{secrets.token_hex(4)}")
    try:
        return prepare_worktree(settings, path, trusted, head)
    finally:
        trees.remove(path)


@pytest.mark.sandbox
@needs_strace
def test_the_trace_names_what_set_up_opened_and_nothing_it_made(tmp_path: Path) -> None:
    """Opened from a folder it moved to, read by Python, tried and missing, a folder listed,
    a committed script run: each is in the record, relative to the tree; what set-up wrote
    itself and the system's files are not."""
    script = (
        "set -e\ncat a.txt > made.txt\n(cd sub && cat ../b.txt deeper/c.txt) > /dev/null\n"
        "python3 -c \"open('py.txt').read()\"\ncat missing.txt 2>/dev/null || true\n"
        "ls listed > /dev/null\n./bin/tool\ncat made.txt /etc/hostname > /dev/null\n"
    )
    files = {
        "setup.sh": script,
        "a.txt": "a",
        "b.txt": "b",
        "sub/deeper/c.txt": "c",
        "py.txt": "p",
        "listed/x": "",
        "bin/tool": "#!/bin/sh\ntrue\n",
        "unread.txt": "",
    }
    repo, head = production(tmp_path, "sh setup.sh", files)
    (repo / "bin" / "tool").chmod(0o755)
    git(repo, "commit", "-qam", "executable")
    head = git(repo, "rev-parse", "HEAD").strip()
    with shared():
        done = prepared(load_settings(repo, tmp_path / "state"), repo, head, head)
    assert done.problem is None and done.record is not None, done.output
    read = set(done.record.read)
    assert {"setup.sh", "a.txt", "b.txt", "sub/deeper/c.txt", "py.txt", "missing.txt"} <= read
    assert {"listed/", "bin/tool"} <= read, read
    assert not {"made.txt", "unread.txt", "listed/x"} & read
    assert all(not p.startswith(("/", "..")) for p in read), read


def test_what_set_up_read_is_touched_by_a_change(tmp_path: Path) -> None:
    """A file it opened, changed; an entry added to a folder it listed, or a new folder
    there (a ``json/`` package where Python listed ``./``): touched. A file it never opened
    in a folder it listed, changed in place, and a file added where it listed nothing: not."""
    repo = GitRepo.init(tmp_path / "r", "main")
    for name in ("read.txt", "app.py", "listed/kept.txt", "other/x.txt"):
        (repo.path / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / name).write_text("one\n")
    base = repo.commit_all("production")
    assert base
    for name in ("read.txt", "app.py", "listed/kept.txt", "listed/new.txt", "json/__init__.py"):
        (repo.path / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / name).write_text("two\n")
    (repo.path / "other" / "y.txt").write_text("")
    head = repo.commit_all("a change")
    assert head
    read = ["read.txt", "./", "listed/"]
    assert touched(repo, base, head, read) == ["json/__init__.py", "listed/new.txt", "read.txt"]
    assert touched(repo, base, head, ["listed/"]) == ["listed/new.txt"]


@pytest.mark.sandbox
@needs_strace
def test_a_kept_set_up_is_reused_only_where_it_read_the_same(tmp_path: Path) -> None:
    """Production moves: a commit that changes a script set-up runs (no set-up input by name)
    is set up afresh, traced; one that changes a file it never read takes the kept set-up."""
    files = {"setup.sh": "sh tools/inner.sh\n", "tools/inner.sh": "echo one > made.txt\n"}
    repo, first = production(tmp_path, "sh setup.sh", files)
    settings = load_settings(repo, tmp_path / "state")
    (repo / "tools" / "inner.sh").write_text("echo two > made.txt\n")
    git(repo, "commit", "-qam", "a person's change to what set-up runs")
    second = git(repo, "rev-parse", "HEAD").strip()
    (repo / "app.py").write_text("print('notes!')\n")
    git(repo, "commit", "-qam", "an app change")
    third = git(repo, "rev-parse", "HEAD").strip()
    with shared():
        ran = [prepared(settings, repo, sha, sha) for sha in (first, first, second, third)]
    assert [p.online is not None for p in ran] == [True, False, True, False]
    assert [p.record.commit for p in ran if p.record] == [first, first, second, second]


@pytest.mark.sandbox
@needs_strace
def test_a_file_read_under_one_branch_of_an_if_is_set_up_code_only_when_that_branch_runs(
    tmp_path: Path,
) -> None:
    """``mode.txt`` says whether set-up reads ``extra.txt``: where it does, the trace sees it
    and a change to it is set-up code, set up again offline; where it does not, a change to
    it is not set-up code (set-up reads it not), while a change to ``mode.txt`` is."""
    script = "if grep -q extra mode.txt; then cat extra.txt > made.txt; fi\n"
    for mode, expected in (("extra", ("extra.txt",)), ("plain", ())):
        root = tmp_path / mode
        repo, base = production(
            root, "sh setup.sh", {"setup.sh": script, "mode.txt": mode, "extra.txt": "one"}
        )
        settings = load_settings(repo, root / "state")
        edited = change(repo, base, {"extra.txt": "two"})
        flipped = change(repo, base, {"mode.txt": "other"})
        with shared():
            done = prepared(settings, repo, base, edited)
            moved = prepared(settings, repo, base, flipped)
        assert done.inputs_changed == expected, (mode, done.record)
        assert (done.offline is not None) is bool(expected)
        assert moved.inputs_changed == ("mode.txt",) and moved.offline is not None


def _offline(tmp_path: Path, files: dict[str, str], changed: dict[str, str]) -> Prepared:
    """Production holding ``files`` (its set-up ``sh setup.sh``), prepared for a change that
    writes ``changed``."""
    repo, base = production(tmp_path, "sh setup.sh", files)
    head = change(repo, base, changed)
    with shared():
        return prepared(load_settings(repo, tmp_path / "state"), repo, base, head)


@pytest.mark.sandbox
@needs_strace
def test_a_change_whose_set_up_fails_offline_names_the_rule_and_what_it_adds(
    tmp_path: Path,
) -> None:
    """Set up without the network, the change's set-up cannot fetch what it adds: the problem
    names the rule, the file and the package as the change wrote it, and it goes to a person
    (no fix attempt: a gate's kind), never "set up again … exited 1" alone."""
    script = 'while read -r p; do [ -f "wheelhouse/$p.whl" ] || exit 3; done < lists/extra.txt\n'
    files = {"setup.sh": script, "lists/extra.txt": "okpkg-2.0-py3-none-any\n"}
    changed = {"lists/extra.txt": "okpkg-2.0-py3-none-any\nevilpkg==6.6\n"}
    done = _offline(tmp_path, files, changed)
    assert done.problem is not None and done.problem.startswith(
        "setup_code: the change alters what set-up reads (lists/extra.txt); set up again "
        "without the network (agent-written code never gets it) it exited 3"
    ), done.problem
    assert "(the lines it adds: lists/extra.txt: evilpkg==6.6) waits for a person" in done.problem
    assert done.offline  # the change set up again: its own failure, no context needed
    assert setup_failed(None, done).kind == "gate"  # type: ignore[arg-type]


@pytest.mark.sandbox
@needs_strace
def test_a_set_up_that_fails_offline_over_a_folder_it_lists_names_the_entry(
    tmp_path: Path,
) -> None:
    """A change that only adds a file where production's set-up listed the folder (as Python
    lists the folder it imports from), set up again offline where set-up needs the network:
    the problem names that entry, never an empty "reads ()" (a maintainer's root-level note
    on a pip project)."""
    script = 'ls docs > made.txt; [ -n "$HTTPS_PROXY" ] || exit 3\n'
    done = _offline(tmp_path, {"setup.sh": script, "docs/a.md": "a"}, {"docs/new.md": "a note"})
    assert done.problem is not None and done.problem.startswith(
        "setup_code: the change alters what set-up reads (an entry of a folder it lists: "
        "docs/new.md); set up again without the network (agent-written code never gets it) "
        "it exited 3"
    ), done.problem


# pip of the system, offline, from the project's wheelhouse, run by the venv ``site``'s own
# interpreter (which sees the system's packages), so it installs there: one pip, where
# ``--python site/bin/python`` starts a second one inside the venv
P = "site/bin/python -m pip install -q --no-index --find-links wheelhouse"
LIST = {"lists/extra.txt": "okpkg\n"}
MAKE = "P = PIP_CONFIG_FILE=/dev/null " + P + "\n"
# the nine layouts the static reading missed: production's set-up, its files, what the change
# writes, and what its set-up then installs that production's does not (with the file)
LAYOUTS = {
    "-rFILE": ("$P -rlists/extra.txt", LIST, "lists/extra.txt"),
    'quoted -r "…"': ('$P -r "lists/extra.txt"', LIST, "lists/extra.txt"),
    "-c '…'": (
        "$P okpkg -c 'lists/pins.txt'",
        {"lists/pins.txt": "okpkg==2.0\n"},
        "lists/pins.txt",
    ),
    "$(cat …)": ("$P $(cat lists/extra.txt)", LIST, "lists/extra.txt"),
    "xargs … <": ("xargs $P < lists/extra.txt", LIST, "lists/extra.txt"),
    'Makefile -r "$REQS"': (
        "make -s install",
        {**LIST, "Makefile": MAKE + 'install:\n\tREQS=lists/extra.txt; $(P) -r "$$REQS"\n'},
        "lists/extra.txt",
    ),
    "Makefile -r $(REQS)": (
        "make -s install",
        {**LIST, "Makefile": MAKE + "REQS = lists/extra.txt\ninstall:\n\t$(P) -r $(REQS)\n"},
        "lists/extra.txt",
    ),
    "a Makefile target that reads a list": (
        "make -s install",
        {**LIST, "Makefile": MAKE + "install:\n\t$(P) $(shell cat lists/extra.txt)\n"},
        "lists/extra.txt",
    ),
    "a script the set-up script runs": (
        "sh tools/inner.sh",
        {"tools/inner.sh": f"PIP_CONFIG_FILE=/dev/null {P} okpkg\n"},
        "tools/inner.sh",
    ),
}


@pytest.mark.slow
@pytest.mark.sandbox
@needs_strace
@pytest.mark.timeout(900)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_package_any_layout_brings_into_set_up_waits_for_a_person(
    tmp_path: Path, layout: str
) -> None:
    """Each layout adds a package set-up installs (or, for a constraint, another version):
    the static reading sees no set-up change, the trace does; the change is set up again
    offline and what it installed is named with the file it came from; validation's route
    sends it to a person with both reasons (set-up code, which earned trust may lift, and the
    installed distribution, which it never does)."""
    line, files, edited = LAYOUTS[layout]
    pip = f'P="PIP_CONFIG_FILE=/dev/null {P}"\n{line.replace("$P", "env $P")}'
    setup = f"#!/bin/sh\nset -e\npython3 -m venv --without-pip --system-site-packages site\n{pip}\n"
    repo, base = production(tmp_path, "sh setup.sh", {"setup.sh": setup, **files})
    settings = load_settings(repo, tmp_path / "state")
    old = files.get(edited, "")
    new = (
        old.replace("okpkg==2.0", "okpkg==3.0")
        if "pins" in edited
        else old.replace(" okpkg", " okpkg evilpkg")
        if edited.endswith(".sh")
        else old + "evilpkg\n"
    )
    head = change(repo, base, {edited: new})
    with shared():
        done = prepared(settings, repo, base, head)
    assert done.problem is None and done.record is not None, done.output
    assert "okpkg" in done.record.installed, done.record
    expected = "okpkg 3.0, not 2.0" if "pins" in edited else "evilpkg 1.0"
    assert done.installs == (f"{expected} ({edited})",), (
        done.installs,
        done.inputs_changed,
        done.record,
        done.output,
    )
    assert edited in done.inputs_changed and done.offline is not None
    commands = settings.config.commands
    static = setup_code_gate([edited], commands.setup_inputs, commands.setup)
    assert static.passed, static  # what reading alone missed
    candidate, checked = evidence()
    checked = type(checked).model_validate(
        {
            **checked.model_dump(),
            "setup_offline_for": list(done.inputs_changed),
            "setup_installs": list(done.installs),
        }
    )
    gates = [static, *setup_code_seen(checked)]  # as validation's decide step gives them
    candidate = type(candidate).model_validate({**candidate.model_dump(), "gates": gates})
    routing = decide_route(settings.governance.rules, candidate, checked, "success")
    assert routing.route == "needs_review", routing
    assert f"setup_installs: {expected} ({edited})" in routing.reason, routing.reason
    assert f"setup_code: the change touches what set-up was seen to read: {edited}" in (
        routing.reason
    )
