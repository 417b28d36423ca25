"""The soak's forge as its users and maintainer reach it, and as the invariants read it: the
local forge (the state's tables, production in the repository's own ``main``), or the GitHub
stand-in (``tests/standins/github_standin.py``: users file and comment there, the maintainer
pushes to its repository, the factory goes through the real PyGithub client)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from benchmarks.forge_rows import pull_requests
from benchmarks.github import APP_MAX, TOKEN
from harness.forge.base import Comment, Issue, PullRequest, factory_labels
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.standins.github_standin import GitHubStandIn

MAINTAINER = {
    "GIT_AUTHOR_NAME": "Mae Maintainer",
    "GIT_AUTHOR_EMAIL": "mae@example.invalid",
    "GIT_COMMITTER_NAME": "Mae Maintainer",
    "GIT_COMMITTER_EMAIL": "mae@example.invalid",
}


class Side(Protocol):
    kind: str
    git_dir: Path  # the repository that holds production as the forge has it

    def file(self, title: str, body: str, author: str) -> int: ...
    def edit(self, number: int, title: str, body: str) -> None: ...
    def comment(self, number: int, author: str, body: str) -> None: ...
    def close(self, number: int) -> None: ...
    def issues(self, state: str) -> list[Issue]: ...
    def comments(self, number: int) -> list[Comment]: ...
    def is_own(self, login: str) -> bool: ...
    def prs(self) -> list[PullRequest]: ...
    def production(self) -> str: ...
    def production_file(self, name: str) -> str: ...
    def production_files(self) -> set[str]: ...
    def commit(self, files: dict[str, str | None], message: str) -> None: ...
    def env(self) -> dict[str, str]: ...
    def close_side(self) -> None: ...


def git(cwd: Path, *args: str) -> str:
    """A git command as the maintainer runs it (never the factory's)."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **MAINTAINER}, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _write(checkout: Path, files: dict[str, str | None], message: str) -> None:
    for name, text in files.items():
        if text is None:
            git(checkout, "rm", "-q", "--", name)
        else:
            (checkout / name).write_text(text)
            git(checkout, "add", "--", name)
    git(checkout, "commit", "-qm", message)


class Production:
    """Production as the forge holds it: ``main`` of the repository at ``git_dir``."""

    git_dir: Path

    def production(self) -> str:
        return git(self.git_dir, "rev-parse", "refs/heads/main").strip()

    def production_file(self, name: str) -> str:
        return git(self.git_dir, "show", f"main:{name}")

    def production_files(self) -> set[str]:
        return set(git(self.git_dir, "ls-tree", "-r", "--name-only", "main").split())


@dataclass
class LocalSide(Production):
    """The local forge: issues in the state's tables; production is the repository's ``main``,
    where the maintainer commits in its checkout (the factory moves it with production)."""

    repo: Path
    state: Path
    kind: str = "local"

    def __post_init__(self) -> None:
        self.forge = LocalForge(Store.open(self.state), GitRepo(self.repo))
        self.git_dir = self.repo

    def file(self, title: str, body: str, author: str) -> int:
        return self.forge.create_issue(title, body, author).number

    def edit(self, number: int, title: str, body: str) -> None:
        self.forge.edit_issue(number, title, body)

    def comment(self, number: int, author: str, body: str) -> None:
        self.forge.store.insert_comment(number, author, body, None)

    def close(self, number: int) -> None:
        self.forge.set_issue_state(number, "closed")

    def issues(self, state: str) -> list[Issue]:
        return self.forge.list_issues(state)

    def comments(self, number: int) -> list[Comment]:
        return self.forge.list_comments(number)

    def is_own(self, login: str) -> bool:
        return self.forge.is_own(login)

    def prs(self) -> list[PullRequest]:
        return pull_requests(self.forge.store)

    def commit(self, files: dict[str, str | None], message: str) -> None:
        _write(self.repo, files, message)

    def env(self) -> dict[str, str]:
        return {}

    def close_side(self) -> None:
        self.forge.store.close()


class GitHubSide(Production):
    """The GitHub stand-in: users file, edit and comment there; the maintainer commits in a
    clone of its repository and pushes; the factory reaches it through PyGithub."""

    kind = "github"

    def __init__(self, root: Path, repo: Path) -> None:
        git_root = root / "github"
        (git_root / "acme").mkdir(parents=True)
        bare = git_root / "acme" / "app.git"
        git(root, "clone", "-q", "--bare", str(repo), str(bare))
        self.hub = GitHubStandIn(git_root, token=TOKEN).__enter__()
        self.hub.ci_conclusion = "success"
        self.hub.rate_limit = self.hub.rate_remaining = APP_MAX
        for name, (color, description) in factory_labels().items():
            self.hub.labels[name] = {"color": color, "description": description}
        self.bare, self.clone, self.git_dir = bare, root / "maintainer", bare
        git(root, "clone", "-q", str(bare), str(self.clone))

    def file(self, title: str, body: str, author: str) -> int:
        return self.hub.open_issue(title, body, author)

    def edit(self, number: int, title: str, body: str) -> None:
        self.hub.edit_issue(number, title, body)

    def comment(self, number: int, author: str, body: str) -> None:
        self.hub.add_comment(number, body, author)

    def close(self, number: int) -> None:
        self.hub.close_issue(number)

    def issues(self, state: str) -> list[Issue]:
        listed = [
            Issue(
                i.number,
                i.title,
                i.body,
                i.author,
                i.state,
                tuple(i.labels),
                i.created_at,
                i.updated_at,
            )
            for i in sorted(self.hub.issues.values(), key=lambda i: i.number)
            if not i.is_pr
        ]
        return [i for i in listed if state == "all" or i.state == state]

    def comments(self, number: int) -> list[Comment]:
        return [
            Comment(c["id"], c["author"], c["body"], c["created_at"])
            for c in sorted(self.hub.comments_on(number), key=lambda c: c["id"])
        ]

    def is_own(self, login: str) -> bool:
        return login == self.hub.bot_login

    def prs(self) -> list[PullRequest]:
        found = []
        for p in self.hub.pulls.values():
            shown = self.hub.issues[p.number]
            state = "merged" if p.merged else shown.state
            issue = re.match(r"factory/issue-(\d+)-", p.head)
            number = int(issue.group(1)) if issue else 0
            found.append(
                PullRequest(
                    p.number,
                    number,
                    p.head,
                    p.base,
                    "",
                    shown.title,
                    shown.body,
                    state,
                    p.merge_sha,
                )
            )
        return found

    def commit(self, files: dict[str, str | None], message: str) -> None:
        """The maintainer's commit: on production as GitHub has it now, pushed."""
        git(self.clone, "fetch", "-q", "origin")
        git(self.clone, "reset", "-q", "--hard", "origin/main")
        _write(self.clone, files, message)
        git(self.clone, "push", "-q", "origin", "HEAD:main")

    def env(self) -> dict[str, str]:
        return {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": self.hub.api_url,
            "GITHUB_SERVER_URL": self.hub.server_url,
            "GITHUB_REPOSITORY": self.hub.repository,
        }

    def close_side(self) -> None:
        self.hub.__exit__(None, None, None)


def github_side(root: Path, repo: Path) -> GitHubSide:
    return GitHubSide(root, repo)
