"""The factory's sandboxes: which paths are the factory's own (never visible to a sandboxed
command), the one constructor every worktree command goes through, and the one place
``commands.setup`` runs (``prepare_worktree``): through the egress proxy on the trusted tree,
without any network on a change. The lists of hidden paths are built here and nowhere else."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.artifacts import NetworkRecord
from harness.caches import PROCESS, Memo
from harness.config.settings import Settings, derived_allow
from harness.cpu import waiting
from harness.errors import GitError, SandboxError
from harness.git.repo import GitRepo
from harness.git.worktrees import tree_roots
from harness.globs import matching
from harness.sandbox import holding
from harness.sandbox.bwrap import CommandResult, Sandbox, harden
from harness.sandbox.egress import EgressProxy
from harness.sandbox.limits import Limits

TREE = Path("/factory/tree")  # where every worktree sandbox shows its tree
SETUPS_KEPT = 4  # set-up trees kept, the newest used


def hidden_paths(settings: Settings, base: Path) -> list[Path]:
    """What a command in the worktree ``base`` must not see: state, repository, hold-out.
    (The sandbox's view is an allow-list, so these are masked only where they would fall
    inside the read-only system; elsewhere they are simply never mounted.)"""
    s = settings
    return [p for p in (s.state_dir, s.root, s.holdout_dir) if p.exists() and p != base]


def fresh_root(state_dir: Path) -> Path:
    """Where the per-check copies of a checkout live, for the state ``state_dir``."""
    return tree_roots(state_dir)[1]


def sealed_hidden_paths(settings: Settings) -> list[Path]:
    """What the sealed validator must not see: besides what no command sees (state,
    repository, hold-out), every worktree and the app's own files, copied for it."""
    s = settings
    return [s.root, s.state_dir, s.holdout_dir, *tree_roots(s.state_dir)[:2]]


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
) -> Sandbox:
    """The sandbox for commands in the worktree ``path`` (or a copy of one), shown to them at
    ``TREE``: what setup wrote there (a venv's shebangs, an editable install's path) holds in
    every copy. No network, or only the egress proxy's socket. As root, the state folder,
    the hold-out, the main repository's ``.git`` and the folders of worktrees, their copies
    and kept set-ups are first closed to every other uid."""
    state = settings.state_dir
    harden([state, settings.holdout_dir, settings.root / ".git", *tree_roots(state)])
    hidden = hidden_paths(settings, path)
    return Sandbox(path, limits, hidden=hidden, egress=egress, seen_as=TREE, readable=readable)


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
        return hashlib.sha256(said.encode()).hexdigest()[:40]

    return PROCESS.part(_SetupKeys).get(
        (repo.tree_of(trusted), commands.setup, *commands.setup_inputs), key
    )


class _SetupKeys(Memo[str]):
    """``setup_key``'s answers, by tree, ``commands.setup`` and ``commands.setup_inputs``."""


def _reused(settings: Settings, path: Path, key: str) -> bool:
    """What setup made for ``key``, copied into the worktree ``path`` (never shared: every
    tree writes its own copy); False when nothing is kept for it."""
    kept = setups_root(settings.state_dir) / key
    if not kept.is_dir():
        return False
    copy_checkout(kept, path)
    with contextlib.suppress(OSError):
        os.utime(kept)  # the newest used is kept longest
    return True


def _keep(settings: Settings, path: Path, key: str) -> None:
    """What setup made in ``path`` (untracked, ignored or not) kept for ``key``: copied aside
    whole, then named, so a kill leaves nothing half kept; only ``SETUPS_KEPT`` are kept."""
    root = setups_root(settings.state_dir)
    temp = root / f".{key}-{os.getpid()}-{threading.get_ident()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # no other user reads what setup made
    temp.mkdir(exist_ok=True)
    for name in GitRepo(path).untracked(ignored=True):
        source = path / name
        if source.is_dir() and not source.is_symlink():
            copy_checkout(source, temp / name)
        elif source.is_symlink() or source.is_file():
            (temp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, temp / name, follow_symlinks=False)
    try:
        temp.rename(root / key)
    except OSError:  # another run kept it first
        shutil.rmtree(temp, ignore_errors=True)
    kept = sorted(root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[SETUPS_KEPT:]:
        if not old.name.startswith(".") or time.time() - old.stat().st_mtime > 86_400:
            shutil.rmtree(old, ignore_errors=True)


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


def _online(settings: Settings, path: Path) -> tuple[CommandResult, NetworkRecord]:
    """``commands.setup`` in ``path`` with the egress proxy as its only way out."""
    commands = settings.config.commands
    assert commands.setup is not None
    limits = Limits(timeout_s=commands.setup_timeout_s)
    with waiting(), EgressProxy(settings.state_dir, setup_allow(settings)) as proxy:
        result = worktree_sandbox(settings, path, limits, egress=proxy.socket).run(commands.setup)
    return result, proxy.record


@dataclass(frozen=True)
class Prepared:
    """How ``commands.setup`` prepared a worktree: through the egress proxy on the trusted tree
    only, then (when the change touched what setup reads) once more offline on the change."""

    online: CommandResult | None  # on the trusted commit, through the egress proxy
    offline: CommandResult | None  # on the change, without the network
    inputs_changed: tuple[str, ...]  # the setup inputs the change touched
    problem: str | None = None  # why the worktree is not usable, in one line
    network: NetworkRecord | None = None  # the online run's connections

    @property
    def output(self) -> str:
        runs = [r.output for r in (self.online, self.offline) if r is not None]
        return "\n".join(runs)[-4000:]


def prepare_worktree(
    settings: Settings, path: Path, trusted: str, head: str, fresh: bool = False
) -> Prepared:
    """Set up the worktree ``path`` (checked out at ``trusted``) for ``head``
    (docs/sandbox.md, "The egress proxy"): setup on the trusted tree through the proxy (its
    result kept for the next tree of the same inputs), or, unless ``fresh``, an earlier
    setup's result from the same inputs copied in (``_reused``);
    then the move to ``head``, and setup again with no network if the change touched a setup
    input. ``problem`` says why it could not be done; ``network`` holds the proxy's record."""
    commands = settings.config.commands
    repo = GitRepo(path)
    online = offline = network = None
    key = setup_key(settings, repo, trusted) if commands.setup else ""
    if commands.setup and (fresh or not _reused(settings, path, key)):
        try:
            online, network = _online(settings, path)
        except SandboxError as exc:
            return Prepared(None, None, (), str(exc))
        if online.exit_code != 0:
            problem = f"setup failed on the trusted tree {trusted[:12]}"
            return Prepared(online, None, (), f"{problem} (exit {online.exit_code})", network)
        if not network.refused():  # one that tried to leave is never reused
            _keep(settings, path, key)
    if head == trusted:
        return Prepared(online, None, (), network=network)
    try:
        repo.move_to(head)
    except GitError as exc:
        problem = f"cannot move the prepared tree to {head[:12]}: {exc}"
        return Prepared(online, None, (), problem, network)
    holding.give(repo.path, [repo.path / p for p in repo.paths_between(trusted, head)])
    changed = repo.changed_paths(trusted, head)
    inputs = tuple(p for p in changed if matching(p, commands.setup_inputs))
    if commands.setup and inputs:
        limits = Limits(timeout_s=commands.setup_timeout_s)
        offline = worktree_sandbox(settings, path, limits).run(commands.setup)
        if offline.exit_code != 0:
            why = (
                f"the change alters {', '.join(inputs[:5])}, which commands.setup reads; set up "
                f"again without the network (agent-written code never gets it) it exited "
                f"{offline.exit_code}"
            )
            return Prepared(online, offline, inputs, why, network)
    return Prepared(online, offline, inputs, network=network)
