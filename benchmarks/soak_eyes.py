"""The soak's world looks at production with its own eyes (``benchmarks/soak_oracle.py`` reads
what they see): a commit's files written out of git, its app started with Python as a user
would start it and asked for pages over HTTP, a hold-out journey walked through those pages by a
driver of the world's own (a form filled by its label, a button pressed by its name, a text
looked for in what the page shows), the tests run with ``unittest``. Nothing of the harness is
used: not its sandbox, its browser, its records or its verdicts.

What one tree shows is the same whenever it is asked (the world's journeys and pages hold no
chance), so each answer is kept per tree: a day starts a few apps, not one per look."""

from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

START_S = 20.0  # the app answers within this, or the look is inconclusive (an error, not a verdict)


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # input name -> value
    buttons: list[str] = field(default_factory=list)


class _Page(HTMLParser):
    """What a page shows (its text, tags gone, entities read) and its forms."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.forms: list[_Form] = []
        self.labels: dict[str, str] = {}  # label text -> the id it is for
        self.names: dict[str, str] = {}  # input id -> its name
        self._label: str | None = None
        self._button = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(given.get("action", ""), given.get("method", "get").lower()))
        elif tag == "label":
            self._label = given.get("for", "")
        elif tag == "input" and given.get("name"):
            self.names[given.get("id", given["name"])] = given["name"]
            if self.forms:
                self.forms[-1].fields[given["name"]] = given.get("value", "")
        elif tag == "button":
            self._button = True
            if self.forms:
                self.forms[-1].buttons.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label = None
        elif tag == "button":
            self._button = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._label is not None and data.strip():
            self.labels[data.strip()] = self._label
        if self._button and self.forms:
            self.forms[-1].buttons[-1] += data.strip()

    def shown(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text)).strip()


class AppDown(Exception):
    """The app did not start, or stopped answering."""


class JourneyFailed(Exception):
    """A step of a journey did not do what it says: the step and what the page showed."""


class Eyes:
    """The world's eyes on one git repository (production's, as the forge holds it)."""

    def __init__(self, git_dir: Path, flaky: tuple[str, ...] = ()) -> None:
        self.git_dir = git_dir
        self.flaky = flaky  # test files the world wrote to fail at random: never run
        self.where = Path(tempfile.mkdtemp(prefix="soak-eyes-"))
        self.trees: dict[str, str] = {}  # commit -> tree
        # (tree, question) -> why not (None: yes): a question asked under any name, once
        self.seen: dict[tuple[str, tuple[Any, ...]], str | None] = {}
        self.started = {"apps": 0, "tests": 0}  # what its looks cost, counted

    def close(self) -> None:
        shutil.rmtree(self.where, ignore_errors=True)

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.git_dir, capture_output=True, text=True, check=True
        )
        return done.stdout

    def tree(self, commit: str) -> str:
        if commit not in self.trees:
            self.trees[commit] = self.git("rev-parse", f"{commit}^{{tree}}").strip()
        return self.trees[commit]

    def files(self, commit: str) -> Path:
        """The commit's files, written out of git once per tree (read only after)."""
        tree = self.tree(commit)
        folder = self.where / tree
        if not folder.is_dir():
            archive = subprocess.run(
                ["git", "archive", "--format=tar", tree],
                cwd=self.git_dir,
                capture_output=True,
                check=True,
            ).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(folder, filter="data")
        return folder

    # ---- what a tree shows ---------------------------------------------------------------

    def answers(self, commit: str, questions: dict[str, Any]) -> dict[str, str | None]:
        """Each question about the commit's tree answered: None when it holds, else why not.
        A question is ``("page", path, text)`` (the page shows the text), ``("journey",
        file, text of the journey)`` or ``("tests", commit)`` (its tests pass, and with a
        commit, that commit's too: the tests a change kept). A question is answered once a
        tree, whatever name it is asked under."""
        tree = self.tree(commit)
        asked = {q for q in questions.values() if (tree, q) not in self.seen}
        apps = [q for q in asked if q[0] in ("page", "journey")]
        if apps:
            try:
                with self._app(commit) as url:
                    for question in sorted(apps, key=lambda q: q[0] != "page"):
                        self.seen[tree, question] = self._ask(url, commit, question)
            except (AppDown, OSError) as exc:  # what it did not answer, it does not show
                for question in apps:
                    self.seen.setdefault((tree, question), f"the app: {exc}")
        for question in sorted((q for q in asked if q[0] == "tests"), key=lambda q: q[1] is None):
            self.seen[tree, question] = self._tests(commit, question[1])
        return {k: self.seen[tree, q] for k, q in questions.items()}

    def _ask(self, url: str, commit: str, question: tuple[Any, ...]) -> str | None:
        if question[0] == "page":
            _, path, text = question
            status, body = _get(url + path)
            shown = _Page(body).shown()
            return None if status == 200 and text in shown else f"{path} shows {shown[:80]!r}"
        (self.files(commit) / "notes.json").unlink(missing_ok=True)  # each journey a fresh list
        try:
            walk(url, yaml.safe_load(question[2]))
        except JourneyFailed as exc:
            return str(exc)
        finally:
            (self.files(commit) / "notes.json").unlink(missing_ok=True)
        return None

    def _tests(self, commit: str, kept_from: str | None) -> str | None:
        """``python -m unittest`` in a copy of the commit's files; with ``kept_from``, a commit
        whose test files run beside its own: those it removed put back, those it changed as
        they were, under a name of their own (its tests and the tests it kept, in one run)."""
        tree = self.tree(commit)
        if kept_from is None and any(
            t == tree and q[0] == "tests" and q[1] is not None and why is None
            for (t, q), why in self.seen.items()
        ):
            return None  # a run of its tests and those it kept passed
        self.started["tests"] += 1
        folder = self.where / f"tests-{tree}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(self.files(commit), folder)
        for test in self.files(kept_from).glob("test*.py") if kept_from else ():
            own = folder / test.name
            if own.exists() and own.read_bytes() != test.read_bytes():
                own = folder / f"test_kept_{test.name.removeprefix('test').lstrip('_')}"
            shutil.copy2(test, own)
        for name in self.flaky:
            for flaky in (name, f"test_kept_{name.removeprefix('test').lstrip('_')}"):
                (folder / flaky).unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "unittest", "-q"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        shutil.rmtree(folder, ignore_errors=True)
        if done.returncode == 0:
            return None
        failed = re.findall(r"^(?:FAIL|ERROR): (\S+ \(\S+\))", done.stderr, re.M)
        return f"unittest exited {done.returncode}: {', '.join(failed) or done.stderr[-120:]}"

    @contextmanager
    def _app(self, commit: str) -> Iterator[str]:
        """The commit's app started as its README says (``python3 app.py --port N``) in its
        own files; its base URL while it answers."""
        folder = self.files(commit)
        self.started["apps"] += 1
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_S
            while True:
                try:
                    _get(url + "/")
                    break
                except OSError:
                    if app.poll() is not None or time.monotonic() > deadline:
                        raise AppDown(f"the app of {commit[:12]} never answered") from None
                    time.sleep(0.05)
            yield url
        finally:
            app.kill()
            app.wait()


def _get(url: str, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def walk(url: str, journey: dict[str, Any]) -> None:
    """A hold-out journey walked through the app's pages by the world's own driver: ``goto``,
    ``fill`` by label, ``click`` a button by its name (its form sent), ``expect_text`` and
    ``expect_no_text`` in what the page shows. Raises ``JourneyFailed`` at the first step that
    does not hold."""
    page = _Page("")
    filled: dict[str, str] = {}
    for number, step in enumerate(journey["steps"], 1):
        (action, value), *_ = step.items()
        if action == "goto":
            _, body = _get(url + value)
            page, filled = _Page(body), {}
        elif action == "fill":
            name = page.names.get(page.labels.get(value["label"], ""))
            if name is None:
                raise JourneyFailed(f"step {number}: no field labelled {value['label']!r}")
            filled[name] = value["value"]
        elif action == "click":
            form = next((f for f in page.forms if value["name"] in f.buttons), None)
            if form is None:
                raise JourneyFailed(f"step {number}: no button named {value['name']!r}")
            sent = urllib.parse.urlencode({**form.fields, **filled}).encode()
            _, body = _get(url + form.action, sent if form.method == "post" else None)
            page, filled = _Page(body), {}
        elif action in ("expect_text", "expect_no_text"):
            shown = page.shown()
            if (value in shown) != (action == "expect_text"):
                raise JourneyFailed(f"step {number}: {action} {value!r}; shown: {shown[:80]!r}")
        else:
            raise ValueError(f"the world's driver has no step {action!r}")
