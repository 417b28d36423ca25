"""Which git directory a working tree may be opened with.

A linked worktree's ``.git`` is a file inside the worktree, and sandboxed commands write the
worktree: they could point ``.git`` at a folder of their own, or replace it with a whole
repository whose config runs commands (``core.fsmonitor``, filter drivers) the moment the
harness runs ``git add`` outside the sandbox. So a linked worktree is trusted only through its
administrative folder in the main repository: that folder must lie outside the worktree and its
``gitdir`` file must point back at this very worktree. The harness then runs git with
``GIT_DIR``/``GIT_WORK_TREE`` pinned to what it checked, whatever ``.git`` says later.

Folders that hold factory worktrees carry a marker file; below one, a ``.git`` that is not a
verified worktree link is refused outright.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import GitError

ROOT_MARKER = ".factory-worktree-root"


def under_worktree_root(path: Path) -> bool:
    """True if ``path`` lies in a folder where the factory keeps worktrees."""
    return any((parent / ROOT_MARKER).is_file() for parent in path.parents)


def mark_worktree_root(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / ROOT_MARKER
    if not marker.is_file():
        marker.write_text("factory worktrees live here\n")


def _points_back(admin: Path, dotgit: Path) -> bool:
    try:
        back = (admin / "gitdir").read_text(errors="replace").strip()
        return (admin / "commondir").is_file() and Path(back).resolve() == dotgit
    except OSError:
        return False


def linked_admin_dir(path: Path) -> Path | None:
    """The verified administrative folder of the linked worktree at ``path`` (resolved), or
    ``None`` for a main working tree. Raises ``GitError`` for a forged ``.git`` below a
    worktree root."""
    dotgit = path / ".git"
    strict = under_worktree_root(path)
    if dotgit.is_file() and not dotgit.is_symlink():
        try:
            text = dotgit.read_text(errors="replace").strip()
        except OSError:
            text = ""
        if text.startswith("gitdir: "):
            admin = (path / text.removeprefix("gitdir: ")).resolve()
            outside = admin != path and path not in admin.parents
            if outside and _points_back(admin, dotgit):
                return admin
    if strict:
        raise GitError(f"{path}: .git is not a link to this worktree's repository; not opened")
    return None
