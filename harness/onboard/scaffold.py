"""What ``factory init`` writes: the four files from ``workflows/init/`` and, on request,
CI files from ``workflows/init/<ci folder>/``."""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from harness.config import system
from harness.config.governance import parse_rules, split_front_matter
from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES, FactoryConfig
from harness.config.network import default_allow
from harness.config.settings import check_holdout, holdout_path, parse_config
from harness.errors import ConfigErrors, GitError, UsageError
from harness.forge.base import default_author
from harness.git.repo import GitRepo
from harness.onboard import CI
from harness.paths import shipped_yaml, workflows_dir
from harness.sandbox.bwrap import SAFE_PATH

TEMPLATES = MappingProxyType({name: f"{name}.j2" for name in (*GOVERNANCE_FILES, CONFIG_FILE)})
# what each --force-KIND overwrites: a CI file by its folder (forms, workflows), else governance
KINDS = ("governance", "forms", "workflows")
_CI_KINDS = MappingProxyType({"ISSUE_TEMPLATE": "forms", "workflows": "workflows"})
_GITHUB_URL = re.compile(r"github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_STATE_LINE = ".factory/*"
SCRIPT = "scripted.yaml"  # the example answers 'factory init --provider scripted' writes
STARTER_JOURNEY = "holdout_home.yaml"  # written into a hold-out folder that does not exist yet


def _environment(folder: Path, ci: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (markdown and YAML, not HTML)
    )
    env.filters["yaml"] = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    env.filters["shell"] = shlex.quote
    if ci:  # a CI system's own ${{ }} expressions pass through templates with these delimiters
        return env.overlay(
            variable_start_string="[[",
            variable_end_string="]]",
            block_start_string="[%",
            block_end_string="%]",
        )
    return env


def github_repository(repo: GitRepo) -> str:
    """owner/name of the ``origin`` remote when it is on GitHub, else ""."""
    try:
        url = repo.git("remote", "get-url", "origin")
    except GitError:
        return ""  # no such remote
    match = _GITHUB_URL.search(url.strip())
    return match.group(1) if match else ""


def detect_project(root: Path) -> dict[str, Any]:
    """The first kind of ``workflows/init/projects.yaml`` one of whose ``when`` files exists
    in ``root``, its label and commands rendered with what was found there."""
    spec = shipped_yaml("init", "projects.yaml")
    pyproject = read_pyproject(root)
    packaged = any(table in pyproject.tables for table in spec["package_tables"])
    present = [
        p.name for p in root.iterdir() if p.is_file() and (p.name != "pyproject.toml" or packaged)
    ]
    for kind in spec["kinds"]:
        found = [name for name in kind.get("when", []) if name in present]
        if kind.get("when") and not found:
            continue
        python = sandbox_python(pyproject)[0]
        facts = {
            "found": found[0] if found else "",
            "extra": next((e for e in spec["test_extras"] if e in _extras(root, pyproject)), ""),
            "group": next((g for g in spec["test_extras"] if g in pyproject.groups), ""),
            "requirements": [r for r in spec["dev_requirements"] if (root / r).is_file()],
            "package": _package(root, pyproject),
            "python": python,
            "django": (root / "manage.py").is_file(),
            "pytest": _uses_pytest(root, pyproject),
            "unittest": _uses_unittest(root),
        }
        env = _environment(workflows_dir() / "init")
        for name in ("python_start", "python_test"):
            facts[name] = env.from_string(spec[name]).render(facts)
        rendered = {
            k: env.from_string(kind[k]).render(facts)
            for k in ("label", "setup", "test", "start")
            if k in kind
        }
        return {**kind, **rendered}
    raise UsageError("projects.yaml: no kind matches (the last one must have no when)")


_VERSIONED = re.compile(r"^python3\.(\d+)$")
INTERPRETERS = SAFE_PATH  # where the sandbox finds interpreters (its PATH)


def _version_of(executable: Path) -> str | None:
    """``3.N`` of a Python on the sandbox's PATH, read from the name it links to."""
    match = _VERSIONED.match(executable.resolve().name)
    return f"3.{match.group(1)}" if match else None


def sandbox_python(pyproject: Pyproject) -> tuple[str, str | None]:
    """The interpreter a recipe creates its environment with: ``python3`` when it satisfies
    pyproject.toml's ``requires-python`` (or nothing is required), else the oldest
    ``python3.N`` on the sandbox's PATH that does; and a note when none does (the sandbox
    sees /usr, never a home folder's or /opt's interpreters)."""
    required = pyproject.requires_python
    try:
        spec = SpecifierSet(required)
    except InvalidSpecifier:
        return "python3", None
    folders = [Path(p) for p in INTERPRETERS.split(":") if p]
    default = next((_version_of(f / "python3") for f in folders if (f / "python3").exists()), None)
    if not required or (default is not None and spec.contains(default)):
        return "python3", None
    names = (p.name for f in folders for p in f.glob("python3.*"))
    found = sorted({int(m.group(1)) for name in names if (m := _VERSIONED.match(name))})
    fitting = [minor for minor in found if spec.contains(f"3.{minor}")]
    if fitting:
        return f"python3.{fitting[0]}", None
    return "python3", (
        f"pyproject.toml requires Python {required}, and no python3 or python3.N on the "
        f"sandbox's PATH ({INTERPRETERS}) satisfies it (python3 is {default or 'missing'}): "
        "install one under /usr/local, where the sandbox sees it"
    )


def python_problem(root: Path) -> str | None:
    """Why no interpreter on the sandbox's PATH fits ``root``'s pyproject.toml, if none does."""
    return sandbox_python(read_pyproject(root))[1]


def _uses_pytest(root: Path, pyproject: Pyproject) -> bool:
    """pytest configured (pytest.ini, conftest.py, [tool.pytest]) or pytest-django required."""
    return (
        pyproject.pytest
        or (root / "pytest.ini").is_file()
        or (root / "conftest.py").is_file()
        or any(
            "pytest-django" in p.read_text("utf-8", "replace")
            for p in [root / "pyproject.toml", *root.glob("requirements*.txt")]
            if p.is_file()
        )
    )


def _uses_unittest(root: Path) -> bool:
    """The tests are unittest's: a ``tests.py`` at the top, or ``test*.py`` files (at the top
    or in ``tests/``) that import unittest and none pytest (the runner when pytest is not
    configured: projects.yaml's ``python_test``)."""
    tests = [*root.glob("test*.py"), *root.glob("tests/test*.py")][:50]
    texts = [p.read_text("utf-8", "replace") for p in tests if p.is_file()]
    if any("pytest" in text for text in texts):
        return False
    return (root / "tests.py").is_file() or any("unittest" in text for text in texts)


@dataclass(frozen=True)
class Pyproject:
    """What ``factory init`` reads of pyproject.toml, read once (nothing: no such file, or
    one that is not TOML)."""

    tables: frozenset[str] = frozenset()  # its top-level tables
    requires_python: str = ""
    name: str = ""  # [project] name
    extras: frozenset[str] = frozenset()  # [project.optional-dependencies]
    groups: frozenset[str] = frozenset()  # [dependency-groups] (PEP 735)
    pytest: bool = False  # [tool.pytest] is configured
    # what each of [project.optional-dependencies] and [dependency-groups] requires, by name
    requires: dict[str, list[object]] = field(default_factory=dict)


def read_pyproject(root: Path) -> Pyproject:
    """``root``'s pyproject.toml, as ``factory init`` reads it."""
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return Pyproject()
    project, poetry = data.get("project", {}), data.get("tool", {}).get("poetry", {})
    extras = project.get("optional-dependencies", {})
    return Pyproject(
        tables=frozenset(data),
        requires_python=str(project.get("requires-python", "")).strip(),
        name=str(project.get("name", "")),
        extras=frozenset([*extras, *poetry.get("extras", {})]),
        groups=frozenset([*data.get("dependency-groups", {}), *poetry.get("group", {})]),
        pytest="pytest" in data.get("tool", {}),
        requires={**extras, **data.get("dependency-groups", {})},
    )


def declaring(root: Path, module: str) -> str:
    """The optional extra or dependency group of ``root``'s pyproject.toml that requires
    ``module`` (a test runner a run could not import); "" when none does."""
    named = re.compile(rf"\s*{re.escape(module)}(?![\w.-])", re.I)
    held = read_pyproject(root).requires
    return next((k for k, wants in held.items() if any(named.match(str(w)) for w in wants)), "")


_SETUP_EXTRAS = re.compile(r"extras_require\s*=\s*(\{.*?\}|dict\(.*?\))", re.S)
_EXTRA_KEY = re.compile(r"""['"]([\w.-]+)['"]\s*:|\b(\w+)\s*=""")


def _extras(root: Path, pyproject: Pyproject) -> set[str]:
    """The optional-dependency groups the package declares, wherever it declares them."""
    names = set(pyproject.extras)
    cfg = configparser.ConfigParser()
    with contextlib.suppress(configparser.Error, UnicodeDecodeError):
        cfg.read(root / "setup.cfg", "utf-8")
    if cfg.has_section("options.extras_require"):
        names.update(cfg.options("options.extras_require"))
    setup_py = root / "setup.py"
    text = setup_py.read_text("utf-8", "replace") if setup_py.is_file() else ""
    for block in _SETUP_EXTRAS.findall(text):
        names.update(a or b for a, b in _EXTRA_KEY.findall(block))
    return names


def _package(root: Path, pyproject: Pyproject) -> str:
    """The import name of the project's package (for the ``start`` hint)."""
    for folder in (root / "src", root):
        found = sorted(
            p.parent.name
            for p in folder.glob("*/__init__.py")
            if p.parent.name.isidentifier() and p.parent.name not in ("tests", "test", "docs")
        )
        if found:
            return found[0]
    name = re.sub(r"[^0-9A-Za-z_]", "_", pyproject.name)
    return name if name.isidentifier() else "yourapp"


def context_for(root: Path, forge: str, provider: str, package: str, ack: bool) -> dict[str, Any]:
    """What the templates may use: name, forge, branch, repository (owner/name or ""), the
    login trusted from the start (``owner``: the GitHub repository's owner, else the user who
    files the local forge's issues), the detected project with its commands, the provider,
    the pinned harness package, whether CI acknowledges new issues at once, and the system
    packages a CI runner installs."""
    repo = GitRepo(root)
    pieces = system.pieces()  # a runner installs them all but the browser: it has its own
    repository = github_repository(repo)
    return {
        "system": {
            "packages": " ".join(p["package"] for p in pieces if not p.get("browser")),
            "services": [p["service"] for p in pieces if p.get("service")],
        },
        "name": root.name,
        "forge": forge,
        "branch": repo.head_branch() or "main",
        "repository": repository,
        # trusted from the start: the GitHub repository's owner, else who files issues here
        "owner": repository.partition("/")[0]
        if forge == "github" and repository
        else default_author(),
        "project": detect_project(root),
        "allow": default_allow(p.name for p in root.iterdir() if p.is_file()),
        "provider": provider,
        "package": package,
        "ack": ack,
    }


def governance_files(root: Path, context: dict[str, Any]) -> dict[Path, str]:
    env = _environment(workflows_dir() / "init")
    files = {
        root / target: env.get_template(name).render(context) for target, name in TEMPLATES.items()
    }
    if context.get("provider") == "scripted":
        files[root / SCRIPT] = env.get_template(SCRIPT + ".j2").render(context)
    return files


def starter_holdout(root: Path, factory_yaml: str) -> tuple[Path, str] | None:
    """A first hold-out journey (the home page loads) for the hold-out folder the written
    factory.yaml names, when that folder does not exist yet; None when it does (a
    maintainer's journeys are never touched) or when the folder cannot be placed."""
    try:
        config = parse_config(factory_yaml)
    except ConfigErrors:
        return None
    holdout = holdout_path(root, config)
    if holdout.exists() or check_holdout(root, holdout) is not None:
        return None
    return holdout / "journeys" / "home.yaml", (
        workflows_dir() / "init" / STARTER_JOURNEY
    ).read_text("utf-8")


def ci_files(folder: Path, target: Path, context: dict[str, Any]) -> dict[Path, str]:
    """``folder`` mirrors ``target``: a ``.j2`` file is rendered with ``[[ ]]`` / ``[% %]``
    delimiters and loses its suffix (one that renders to nothing, an option left off, is not
    written); any other file is copied as it is."""
    env = _environment(folder, ci=True)
    out: dict[Path, str] = {}
    for template in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = template.relative_to(folder).as_posix()
        if rel.endswith(".j2"):
            text = env.get_template(rel).render(context)
            if text.strip():
                out[target / rel.removesuffix(".j2")] = text
        else:
            out[target / rel] = template.read_text("utf-8")
    return out


def ci_workflows(root: Path) -> list[str]:
    """The CI workflows ``factory init --ci`` writes that the repository holds."""
    return [
        template.name.removesuffix(".j2")
        for folder, target in CI.values()
        for template in sorted((workflows_dir() / "init" / folder / "workflows").iterdir())
        if (root / target / "workflows" / template.name.removesuffix(".j2")).is_file()
    ]


def shipped_ci_files(root: Path, ci: str, context: dict[str, Any]) -> dict[Path, str]:
    """The CI files of ``--ci ci``, rendered: each name of ``CI`` has its templates shipped
    (tests/config/test_ci_templates.py renders them)."""
    folder, target = CI[ci]
    return ci_files(workflows_dir() / "init" / folder, root / target, context)


def untouched(root: Path, texts: dict[str, str]) -> list[str]:
    """A warning for each of mission.md and CLAUDE.md that still holds lines of the text
    ``factory init`` wrote as placeholders (their guidance comments aside): rendered with
    what those two templates use (the name, the project's commands)."""
    env = _environment(workflows_dir() / "init")
    context = {"name": root.name, "project": detect_project(root)}
    found = []
    for name in ("mission.md", "CLAUDE.md"):
        if name not in texts:
            continue
        mine = set(_prose(texts[name]))
        same = [s for s in _prose(env.get_template(TEMPLATES[name]).render(context)) if s in mine]
        if same:
            found.append(
                f"{name}: {len(same)} line(s) are still the template's text "
                f"(such as {same[0]!r}): write your own"
            )
    return found


def _prose(text: str) -> list[str]:
    """The lines of a Markdown file that are not headings, blank or in an HTML comment."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def kind_of(rel: Path) -> str:
    """Which kind of file ``--force-KIND`` names a path ``init`` writes (relative to the root)."""
    return _CI_KINDS.get(rel.parts[1], "workflows") if len(rel.parts) > 2 else "governance"


# what a file written means beyond its name, said beside it
WRITTEN = MappingProxyType(
    {
        ".github/ISSUE_TEMPLATE/config.yml": "blank issues are off: every new issue comes "
        "through a form (blank_issues_enabled: true in it lets them in)",
    }
)


def write_new(root: Path, files: dict[Path, str], force: set[str]) -> list[str]:
    """Write each file that does not exist, or whose kind is in ``force``; one line per file
    saying what became of it (a file of the repository's own is named and kept as it is)."""
    lines = []
    for path, text in files.items():
        rel = path.relative_to(root)
        kind = kind_of(rel)
        if path.exists() and kind not in force:
            lines.append(f"kept {rel}: it exists (--force-{kind} overwrites it)")
            continue
        means = f": {WRITTEN[rel.as_posix()]}" if rel.as_posix() in WRITTEN else ""
        lines.append(f"{'overwrote' if path.exists() else 'wrote'} {rel}{means}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return lines


def add_state_to_gitignore(root: Path, venv: bool) -> bool:
    """Add the state folder (and a worktree's .venv) to .gitignore unless there; whether added."""
    block = (workflows_dir() / "init" / "gitignore.txt").read_text("utf-8")
    if venv:
        block += ".venv/\n"
    path = root / ".gitignore"
    current = path.read_text("utf-8") if path.exists() else ""
    if _STATE_LINE in current.splitlines():
        return False
    # a blank line between what the file holds and the block
    text = current.removesuffix("\n") + "\n\n" + block if current else block
    path.write_text(text, "utf-8")
    return True


def from_rehearsal(root: Path, origin: str) -> list[str]:
    """``--from-rehearsal``: factory.yaml and factory_rules.md switched from a local rehearsal
    to GitHub, every other edit kept, comments and layout too (ruamel.yaml's round trip):
    forge github; github.repository, when unset, ``origin``'s owner/name; the provider
    anthropic, when it rehearses, its scripted or replayed answers removed; the rehearsal's
    trust removed
    (``FactoryConfig.rehearsal_trust``); the repository's owner trusted instead of the local
    user. One line per change."""
    path = root / CONFIG_FILE
    if not path.is_file():
        raise UsageError("--from-rehearsal: no factory.yaml to switch (init --ci writes one)")
    text = path.read_text("utf-8")
    typed = parse_config(text)
    repository = typed.github.repository or origin
    if not repository:
        raise UsageError(
            "--from-rehearsal: no GitHub repository: add the 'origin' remote on GitHub, or "
            "set github.repository (owner/name) in factory.yaml"
        )
    said: list[str] = []
    data = _round_trip().load(text)
    if typed.forge != "github":
        data["forge"] = "github"
        said.append(f"{CONFIG_FILE}: forge: {typed.forge} -> github")
    if not typed.github.repository:
        if data.get("github") is None:
            data.insert(list(data).index("forge") + 1, "github", {})
        data["github"]["repository"] = repository
        said.append(f"{CONFIG_FILE}: github.repository: {repository}")
    if typed.provider.rehearses:
        data["provider"]["type"] = "anthropic"
        data["provider"].yaml_add_eol_comment(
            "ANTHROPIC_API_KEY: in CI, a repository secret", "type"
        )
        said.append(f"{CONFIG_FILE}: provider.type: {typed.provider.type} -> anthropic")
        for key in ("script", "replay"):  # a rehearsal's answers, files of this machine
            if data["provider"].pop(key, None) is not None:
                said.append(f"{CONFIG_FILE}: provider.{key}: removed (the rehearsal's answers)")
    path.write_text(_dumped(data), "utf-8")
    return said + _rules_to_github(root, typed, repository.partition("/")[0])


def _rules_to_github(root: Path, typed: FactoryConfig, owner: str) -> list[str]:
    """factory_rules.md's front matter switched to GitHub: the rehearsal's trust removed, the
    repository's ``owner`` trusted instead of the local user. One line per change."""
    said: list[str] = []
    path = root / GOVERNANCE_FILES[1]
    text = path.read_text("utf-8")
    _, end = split_front_matter(text)
    lines = text.splitlines(keepends=True)
    front = _round_trip().load("".join(lines[1:end])) if end else None
    if front is None:  # no front matter: the defaults trust no one and nothing
        return said
    for kind in typed.rehearsal_trust(parse_rules(text)):
        del front["trust"][kind]
        said.append(f"{path.name}: trust.{kind}: removed (its start: auto was the rehearsal's)")
    trusted = front.setdefault("triage", {}).setdefault("trusted_authors", [])
    local = default_author()
    if owner not in trusted:
        if local in trusted and local != owner:  # a login on this machine, not on GitHub
            trusted.remove(local)
        trusted.append(owner)
        said.append(f"{path.name}: triage.trusted_authors: {', '.join(trusted)}")
    path.write_text(lines[0] + _dumped(front) + "".join(lines[end:]), "utf-8")
    return said


def _round_trip() -> Any:
    """A ruamel.yaml round trip with the layout ``factory init`` writes (an untouched file
    comes out byte for byte)."""
    from ruamel.yaml import YAML

    round_trip = YAML()
    round_trip.indent(mapping=2, sequence=4, offset=2)
    round_trip.preserve_quotes = True
    round_trip.width = 4096
    return round_trip


def _dumped(data: Any) -> str:
    """``data`` a round trip loaded, written back in the same layout."""
    out = io.StringIO()
    _round_trip().dump(data, out)
    return out.getvalue()
