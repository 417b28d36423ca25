"""The factory's sandboxes: which paths are the factory's own (never visible to a sandboxed
command), the one constructor every worktree command goes through, and the one place
``commands.setup`` runs (``prepare_worktree``): through the egress proxy on the trusted tree,
without any network on a change, always under its file-access trace (what it read, ``touched``
by a change, is set-up code). The lists of hidden paths are built here and nowhere else."""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from importlib.metadata import distributions
from pathlib import Path

from harness.artifacts import NetworkRecord, SetupRecord
from harness.caches import PROCESS, Memo
from harness.config.settings import Settings, derived_allow
from harness.cpu import waiting
from harness.digest import sha256
from harness.errors import GitError, SandboxError
from harness.git.repo import GitRepo, added_lines
from harness.git.worktrees import tree_roots
from harness.globs import matching
from harness.sandbox import holding
from harness.sandbox.bwrap import CommandResult, Sandbox, harden
from harness.sandbox.egress import EgressProxy
from harness.sandbox.limits import Limits

TREE = Path("/factory/tree")  # where every worktree sandbox shows its tree
SETUPS_KEPT = 4  # set-up trees kept, the newest used
RECORD = "setup.json"  # a kept set-up's ``SetupRecord``, beside the ``tree`` it made
# one call of set-up's trace (``bwrap.TRACE``: every string and path in hex): the folder its
# path is relative to, the path, its flags, and the file it opened
CALL = re.compile(r'\w+\((?:\w+<([^>]*)>, )?"([^"]*)",? ?([\w|]*).*\) = (?:\d+<([^>]*)>|-?\d+)')
INFO = (".dist-info", ".egg-info")  # a Python distribution's own metadata


def hidden_paths(settings: Settings, base: Path) -> list[Path]:
    """What a command in the worktree ``base`` must not see: state, repository, hold-out.
    (The sandbox's view is an allow-list, so these are masked only where they would fall
    inside the read-only system; elsewhere they are simply never mounted.)"""
    s = settings
    return [p for p in (s.state_dir, s.root, s.holdout_dir) if p.exists() and p != base]


def fresh_root(state_dir: Path) -> Path:
    """Where the per-check copies of a checkout live, for the state ``state_dir``."""
    return tree_roots(state_dir)[1]


def sealed_hidden_paths(settings: Settings) -> tuple[Path, ...]:
    """What the sealed validator must not see: besides what no command sees (state,
    repository, hold-out), every worktree and the app's own files, copied for it; each as it
    resolves (as the seal's view and its browser's mask them)."""
    s = settings
    return tuple(
        p.resolve() for p in [s.root, s.state_dir, s.holdout_dir, *tree_roots(s.state_dir)[:2]]
    )


def setups_root(state_dir: Path) -> Path:
    """Where the trees ``commands.setup`` made are kept for the state ``state_dir``."""
    return tree_roots(state_dir)[2]


def worktree_sandbox(
    settings: Settings,
    path: Path,
    limits: Limits | None = None,
    *,
    egress: Path | None = None,
    readable: list[Path] | None = None,
    trace: Path | None = None,
) -> Sandbox:
    """The sandbox for commands in the worktree ``path`` (or a copy of one), shown to them at
    ``TREE``: what setup wrote there (a venv's shebangs, an editable install's path) holds in
    every copy. No network, or only the egress proxy's socket. As root, the state folder,
    the hold-out, the main repository's ``.git`` and the folders of worktrees, their copies
    and kept set-ups are first closed to every other uid."""
    state = settings.state_dir
    harden([state, settings.holdout_dir, settings.root / ".git", *tree_roots(state)])
    hidden = hidden_paths(settings, path)
    return Sandbox(
        path, limits, hidden=hidden, egress=egress, seen_as=TREE, readable=readable, trace=trace
    )


def _copy_regular(src: str, dst: str) -> None:
    """Regular files only: a FIFO or a socket that setup left behind would block the copy or
    mean nothing in it, so it is skipped."""
    if stat.S_ISREG(os.lstat(src).st_mode):
        shutil.copy2(src, dst)


def copy_checkout(source: Path, target: Path) -> None:
    """``source`` copied into ``target``: files, folders and symlinks as they are (never
    followed), without ``.git``."""
    shutil.copytree(
        source,
        target,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git"),
        copy_function=_copy_regular,
        dirs_exist_ok=True,
    )


def setup_key(settings: Settings, repo: GitRepo, trusted: str) -> str:
    """What a set-up tree depends on: ``commands.setup`` and the setup inputs of ``trusted``
    (``commands.setup_inputs``, by content); kept by the process per tree, as matching every
    path of a large tree against the inputs costs more than the check it keys."""
    commands = settings.config.commands

    def key() -> str:
        tree = repo.tree(trusted).items()
        inputs = sorted((p, o) for p, (_, o) in tree if matching(p, commands.setup_inputs))
        said = json.dumps([commands.setup, inputs])
        return sha256(said)[:40]

    return PROCESS.part(_SetupKeys).get(
        (repo.tree_of(trusted), commands.setup, *commands.setup_inputs), key
    )


class _SetupKeys(Memo[str]):
    """``setup_key``'s answers, by tree, ``commands.setup`` and ``commands.setup_inputs``."""


def touched(repo: GitRepo, base: str, head: str, read: Collection[str]) -> list[str]:
    """The paths that differ between ``base`` and ``head`` that set-up read there: a file it
    opened (``read``), or an entry added to or taken from a folder it listed (``dir/`` in
    ``read``: a new ``json/`` where it listed ``./`` is in what Python imports)."""
    trees = repo.tree(base), repo.tree(head)

    def differs(entry: str) -> bool:
        return len({any(f"{p}/".startswith(f"{entry}/") for p in t) for t in trees}) > 1

    found = []
    for path in repo.paths_between(base, head):
        parts = path.split("/")
        folders = ["/".join(parts[:n]) or "." for n in range(len(parts))]
        if path in read or any(
            f"{f}/" in read and differs("/".join(parts[: n + 1])) for n, f in enumerate(folders)
        ):
            found.append(path)
    return found


def _reused(settings: Settings, repo: GitRepo, key: str, trusted: str) -> SetupRecord | None:
    """What setup made for ``key`` on a tree where it read what ``trusted`` holds (nothing
    it read differs: ``touched``), copied into the worktree ``path`` (never shared: every
    tree writes its own copy), and its record; None when nothing kept fits."""
    for kept in setups_root(settings.state_dir).glob(f"{key}-*"):
        with contextlib.suppress(OSError, ValueError, GitError):
            record = SetupRecord.model_validate_json((kept / RECORD).read_text())
            if not touched(repo, record.commit, trusted, record.read):
                copy_checkout(kept / "tree", repo.path)
                os.utime(kept)  # the newest used is kept longest
                return record
    return None


def _keep(settings: Settings, path: Path, key: str, record: SetupRecord) -> None:
    """What setup made in ``path`` (untracked, ignored or not) kept for ``key`` with its
    ``record``: copied aside whole, then named, so a kill leaves nothing half kept; only
    ``SETUPS_KEPT`` are kept."""
    root = setups_root(settings.state_dir)
    temp = root / f".{key}-{os.getpid()}-{threading.get_ident()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # no other user reads what setup made
    (temp / "tree").mkdir(parents=True, exist_ok=True)
    for name in GitRepo(path).untracked(ignored=True):
        source, target = path / name, temp / "tree" / name
        if source.is_dir() and not source.is_symlink():
            copy_checkout(source, target)
        elif source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    (temp / RECORD).write_text(record.model_dump_json())
    try:
        temp.rename(root / f"{key}-{record.commit}")
    except OSError:  # another run kept it first
        shutil.rmtree(temp, ignore_errors=True)
    kept = sorted(root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[SETUPS_KEPT:]:
        if not old.name.startswith(".") or time.time() - old.stat().st_mtime > 86_400:
            shutil.rmtree(old, ignore_errors=True)


def _opened(traces: Path) -> set[str]:
    """The paths of the tree (relative; a folder listed ends in ``/``) that the processes
    traced in the folder ``traces`` (a file each) opened, tried to open or executed (a
    relative path that names no folder: from the tree's top)."""
    found: set[str] = set()
    for trace in traces.iterdir():
        for match in CALL.finditer(trace.read_text(errors="replace")):
            folder, name, flags, got = match.groups()
            named = posixpath.join(_unhex(folder) or str(TREE), _unhex(name))
            rel = posixpath.relpath(_unhex(got) or named, TREE)
            if not rel.startswith(".."):
                found.add(f"{rel}/" if "O_DIRECTORY" in flags else rel)
    return found


def _unhex(text: str | None) -> str:
    return bytes.fromhex((text or "").replace("\\x", "")).decode(errors="surrogateescape")


def installed(path: Path, made: list[str]) -> dict[str, str]:
    """The Python distributions among what set-up made in ``path`` (``made``), by name and
    version, as their own metadata says (``*.dist-info``, ``*.egg-info``: read by
    ``importlib.metadata``)."""
    sites = [
        f for m in made for f, subs, _ in os.walk(path / m) if any(s.endswith(INFO) for s in subs)
    ]
    found = distributions(path=sites)
    return {d.metadata["Name"]: d.version for d in found if d.metadata["Name"]}


def setup_allow(settings: Settings) -> list[str]:
    """The hosts ``commands.setup`` may reach: ``network.allow``; unset, the package
    registries of the manifests at the top of the governance commit: the newest commit of
    production's first-parent line that changed a governance file (protected paths, so a
    maintainer's commit), never a tree an agent wrote."""
    allow = settings.config.network.allow
    if allow is not None:
        return list(allow)
    # kept by the process per commit: the history derived_allow reads never changes
    commit = settings.governance.commit
    hosts = PROCESS.part(_DerivedHosts).get(
        (settings.root, commit), lambda: tuple(derived_allow(GitRepo(settings.root), commit)[0])
    )
    return list(hosts)


class _DerivedHosts(Memo[tuple[str, ...]]):
    """``setup_allow``'s hosts derived from the governance commit, by repository and commit."""


def _set_up(
    settings: Settings, path: Path, commit: str, egress: Path | None = None
) -> tuple[CommandResult, SetupRecord]:
    """``commands.setup`` in ``path``, checked out at ``commit`` (``egress``: the proxy's
    socket, its only way out; else none), under its file-access trace: its result, and its
    record: the paths of the tree it opened but did not make (``_opened``), and the
    distributions installed after it (``installed``)."""
    commands = settings.config.commands
    assert commands.setup is not None
    limits = Limits(timeout_s=commands.setup_timeout_s)
    with tempfile.TemporaryDirectory(prefix="factory-trace-") as folder:
        trace = Path(folder, "trace")
        result = worktree_sandbox(settings, path, limits, egress=egress, trace=trace).run(
            commands.setup
        )
        opened = _opened(Path(folder))
    made = GitRepo(path).untracked(ignored=True)
    read = [p for p in sorted(opened) if not any(f"{p}/".startswith(f"{m}/") for m in made)]
    return result, SetupRecord(commit=commit, read=read, installed=installed(path, made))


@dataclass(frozen=True)
class Prepared:
    """How ``commands.setup`` prepared a worktree: through the egress proxy on the trusted tree
    only, then (when the change touched what setup reads) once more offline on the change."""

    online: CommandResult | None  # on the trusted commit, through the egress proxy
    offline: CommandResult | None  # on the change, without the network
    inputs_changed: tuple[str, ...]  # what the change touched that set-up reads
    problem: str | None = None  # why the worktree is not usable, in one line
    network: NetworkRecord | None = None  # the online run's connections
    record: SetupRecord | None = None  # what production's set-up was seen to do
    installs: tuple[str, ...] = ()  # what the change's set-up installed that it did not

    @property
    def output(self) -> str:
        """The end of both runs' output, 4,000 characters at most: what each record of a
        set-up keeps (implement's, a backtest's grade, validation's evidence)."""
        runs = [r.output for r in (self.online, self.offline) if r is not None]
        return "\n".join(runs)[-4000:]


def prepare_worktree(
    settings: Settings, path: Path, trusted: str, head: str, fresh: bool = False
) -> Prepared:
    """Set up the worktree ``path`` (checked out at ``trusted``) for ``head``
    (docs/sandbox.md, "The egress proxy", "Set-up observed"): setup on the trusted tree
    through the proxy, traced (its result kept, with its record, for the next tree where it
    reads the same), or, unless ``fresh``, such a result copied in (``_reused``); then the
    move to ``head``, and setup again with no network, traced, if the change touched what
    setup reads (a set-up input, or what the trace saw it read: ``touched``), its installed
    distributions compared with production's (``installs``). ``problem`` says why it could
    not be done; ``network`` holds the proxy's record."""
    commands = settings.config.commands
    repo = GitRepo(path)
    online = network = record = None
    key = setup_key(settings, repo, trusted) if commands.setup else ""
    if commands.setup and (fresh or (record := _reused(settings, repo, key, trusted)) is None):
        try:
            with waiting(), EgressProxy(settings.state_dir, setup_allow(settings)) as proxy:
                online, record = _set_up(settings, path, trusted, proxy.socket)
        except SandboxError as exc:
            return Prepared(None, None, (), str(exc))
        network = proxy.record
        if online.exit_code != 0:
            failed = f"setup failed on the trusted tree {trusted[:12]} (exit {online.exit_code})"
            return Prepared(online, None, (), failed, network)
        if not network.refused():  # one that tried to leave is never reused
            _keep(settings, path, key, record)
    done = Prepared(online, None, (), None, network, record)
    if head == trusted:
        return done
    try:
        repo.move_to(head)
    except GitError as exc:
        return replace(done, problem=f"cannot move the prepared tree to {head[:12]}: {exc}")
    holding.give(repo.path, [repo.path / p for p in repo.paths_between(trusted, head)])
    return _on_change(settings, repo, trusted, head, done)


def _on_change(
    settings: Settings, repo: GitRepo, trusted: str, head: str, done: Prepared
) -> Prepared:
    """``done`` (production's set-up, moved to ``head``) with what the change touched that
    set-up reads; when it touched any, or an entry of a folder production's set-up listed,
    set-up again offline, traced: why it failed, or what it installed that production's
    did not (``installs``)."""
    commands = settings.config.commands
    seen = done.record.read if done.record else []
    inputs = {p for p in repo.changed_paths(trusted, head) if matching(p, commands.setup_inputs)}
    listed = touched(repo, trusted, head, seen)  # a file it read, or a folder it listed
    if not (commands.setup and (inputs or listed)):
        return replace(done, inputs_changed=tuple(sorted(inputs)))
    offline, seen_now = _set_up(settings, repo.path, head)
    # what either set-up opened of the change (an entry new in a folder production's listed
    # counts once the change's set-up opened it)
    opened = {*seen_now.read, *seen}
    inputs.update(p for p in repo.paths_between(trusted, head) if p in opened)
    # nothing it opened changed: an entry new in (or gone from) a folder it listed decided it
    named = ", ".join(sorted(inputs)) or f"an entry of a folder it lists: {', '.join(listed[:5])}"
    problem = None
    if offline.exit_code:
        added = added_lines(repo.tree_change(trusted, head)[1])
        asks = [f"{p}: {' '.join(added[p])[:200]}" for p in sorted(inputs) if added.get(p)]
        problem = (
            f"setup_code: the change alters what set-up reads ({named}); set up again without the "
            f"network (agent-written code never gets it) it exited {offline.exit_code}, so what "
            f"it would install (the lines it adds: {'; '.join(asks) or 'none'}) waits for a person"
        )
    before = done.record.installed if done.record else {}
    installs = [
        f"{name} {version}{f', not {before[name]}' if name in before else ''} ({named})"
        for name, version in sorted(seen_now.installed.items())
        if before.get(name) != version
    ]
    return replace(
        done,
        offline=offline,
        inputs_changed=tuple(sorted(inputs)),
        problem=problem,
        installs=tuple(installs),
    )
