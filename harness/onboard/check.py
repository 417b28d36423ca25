"""``factory check``: validate the working-tree copies a maintainer edits, and compare them
with what runs will use (the production branch)."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.browser.journeys import journey_files, load_journeys
from harness.config.errors import Findings
from harness.config.governance import has_front_matter, parse_rules, read_on_branch, too_large
from harness.config.mission import read_mission
from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES, ROLES, FactoryConfig, Models
from harness.config.settings import (
    HOLDOUT_ENV,
    check_holdout,
    derived_allow,
    holdout_from_env,
    holdout_path,
    parse_config,
)
from harness.config.testfiles import template
from harness.engine.definition import (
    OVERRIDE_DIR,
    SEALED_VALIDATOR,
    ValidatorDefinition,
    parse_validator,
)
from harness.errors import ConfigError, ConfigErrors, FactoryError, GitError
from harness.git.repo import GitRepo
from harness.model.catalog import Listing
from harness.model.provider import api_key, provider_readiness, resolve_kind
from harness.model.retry import RetryPolicy
from harness.onboard.model_check import OutputLimit, model_problems, output_problems
from harness.onboard.scaffold import ci_workflows, python_problem, untouched
from harness.paths import FLOWS, shipped_text, validators_dir
from harness.sandbox.peers import NO_SOCKET_FOLDER, socket_base


@dataclass
class CheckReport(Findings):
    """Everything ``factory check`` found."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _read(root: Path, name: str, report: CheckReport) -> str | None:
    path = root / name
    try:
        if not path.is_file():
            raise ConfigError(name, "(file)", "missing (run 'factory init')")
        too_large(name, path.stat().st_size)
        return path.read_text("utf-8")
    except ConfigError as exc:
        problem = exc
    except UnicodeDecodeError:
        problem = ConfigError(name, "(file)", "is not UTF-8 text")
    except OSError as exc:
        problem = ConfigError(name, "(file)", f"unreadable: {exc.strerror}")
    report.errors.append(problem)
    return None


def _collect(report: CheckReport, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or None with its configuration problems added to the report."""
    try:
        return fn(*args)
    except ConfigErrors as exc:
        report.errors.extend(exc.problems)
    return None


def _journeys(holdout: Path, report: CheckReport) -> None:
    folder = holdout / "journeys"
    if not journey_files(holdout):
        where = f"environment: {HOLDOUT_ENV}" if holdout_from_env() else f"{CONFIG_FILE}: holdout"
        report.warnings.append(
            f"{where}: {folder} has no journeys yet; validation will refuse to "
            "merge until it holds at least one"
        )
        return
    found = _collect(report, load_journeys, holdout)
    if found:
        source = f" (from ${HOLDOUT_ENV})" if holdout_from_env() else ""
        report.notes.append(f"hold-out: {len(found)} journey(s) valid in {folder}{source}")


def _compare(root: Path, branch: str, texts: dict[str, str], report: CheckReport) -> None:
    try:
        repo = GitRepo(root)
    except GitError as exc:
        report.errors.append(ConfigError(str(root), "(repository)", str(exc)))
        return
    if repo.rev_parse(f"refs/heads/{branch}") is None:
        report.warnings.append(
            f"{CONFIG_FILE}: production_branch: {branch!r} has no commits yet; runs cannot start"
        )
        return
    for name, text in texts.items():
        committed = _collect(report, read_on_branch, repo, branch, name)
        if committed is None:
            report.warnings.append(
                f"{name}: not on the production branch {branch!r} yet; runs cannot use it"
            )
        elif committed != text:
            report.warnings.append(
                f"{name}: differs from the production branch {branch!r} (uncommitted or not "
                "merged yet); runs use the committed copy"
            )


def _production_branch(config: FactoryConfig | None, text: str) -> str:
    """The production branch, read leniently when factory.yaml has other problems."""
    if config is not None:
        return config.production_branch
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    branch = data.get("production_branch") if isinstance(data, dict) else None
    return branch if isinstance(branch, str) and branch else "main"


def _writable(state_dir: Path, report: CheckReport) -> None:
    """The state folder, or the nearest folder that would hold it, accepts writes."""
    probe = state_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        report.errors.append(
            ConfigError("FACTORY_STATE_DIR", str(state_dir), f"not writable ({probe})")
        )


def _validators(root: Path, branch: str, report: CheckReport) -> None:
    """``.factory/validators/*.yaml`` overrides: the working-tree copies and the ones runs use
    (committed on the production branch) are each a valid definition of a known validator."""

    shipped = {p.stem for p in validators_dir().glob("*.yaml")}
    names = {p.name for p in (root / OVERRIDE_DIR).glob("*.yaml")} | {f"{n}.yaml" for n in shipped}
    try:
        repo: GitRepo | None = GitRepo(root)
    except GitError:
        repo = None
    for name in sorted(names):
        source = f"{OVERRIDE_DIR}/{name}"
        path = root / source
        working = path.read_text("utf-8", "replace") if path.is_file() else None
        committed = _collect(report, read_on_branch, repo, branch, source) if repo else None
        seen = {text for text in (working, committed) if text is not None}
        if seen and Path(name).stem not in shipped:
            problem = f"no such validator ({', '.join(sorted(shipped))})"
            report.errors.append(ConfigError(source, "(file)", problem))
            continue
        valid = [_collect(report, parse_validator, text, source) for text in sorted(seen)]
        for prompt in sorted({d.prompt for d in valid if isinstance(d, ValidatorDefinition)}):
            where = f"{OVERRIDE_DIR}/{prompt}"
            if not (
                (validators_dir() / prompt).is_file()
                or (root / where).is_file()
                or (repo is not None and repo.read_blob(f"refs/heads/{branch}", where))
            ):
                problem = f"{prompt!r} is neither shipped nor in {OVERRIDE_DIR}/"
                report.errors.append(ConfigError(source, "prompt", problem))
        if seen and all(valid):
            report.notes.append(f"{source}: overrides validators/{name}")


def output_limits(root: Path, config: FactoryConfig) -> list[OutputLimit]:
    """The output limit of every agent call runs would make: each agent step of the shipped
    workflows, or of a working-tree override that replaces one, and the sealed validator's
    (its working-tree override, else the shipped definition). An override that does not
    parse is reported by the override checks and left out here. None to read when the
    models, their thinking and effort are the defaults and nothing is overridden: the
    shipped limits fit the default models (tests/config/test_check.py)."""
    chosen = config.models != Models() or config.thinking or config.effort
    if not chosen and not any((root / ".factory").glob("*/*.yaml")):
        return []
    from harness.engine.handoffs import shipped, shipped_workflow_names
    from harness.engine.workflow import parse_workflow

    flows = {name: (shipped(name), f"workflows/{name}.yaml") for name in shipped_workflow_names()}
    for path in sorted((root / FLOWS).glob("*.yaml")):
        source = f"{FLOWS}/{path.name}"
        try:
            flows[path.stem] = (parse_workflow(path.read_text("utf-8"), source), source)
        except (ConfigErrors, OSError, UnicodeDecodeError):
            continue
    limits = [
        OutputLimit(source, f"steps[{i}] ({step.id}).max_tokens", step.agent, step.max_tokens)
        for flow, source in flows.values()
        for i, step in enumerate(flow.steps)
        if step.agent in ROLES
    ]
    source = f"{OVERRIDE_DIR}/{SEALED_VALIDATOR}.yaml"
    try:
        text = (root / source).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        text = shipped_text("validators", SEALED_VALIDATOR)
        source = f"validators/{SEALED_VALIDATOR}.yaml"
    try:
        validator = parse_validator(text, source)
    except ConfigErrors:
        return limits
    if isinstance(validator, ValidatorDefinition):
        limits.append(OutputLimit(source, "max_tokens", "validator", validator.max_tokens))
    return limits


def check(root: Path, state_dir: Path) -> CheckReport:
    """Every problem of the working-tree governance and wiring, and how it differs from the
    production branch. Never writes anything."""
    report = CheckReport()
    texts = {
        name: text
        for name in (*GOVERNANCE_FILES, CONFIG_FILE)
        if (text := _read(root, name, report)) is not None
    }
    config: FactoryConfig | None = (
        _collect(report, parse_config, texts[CONFIG_FILE]) if CONFIG_FILE in texts else None
    )
    _governance(texts, report)
    branch = _production_branch(config, texts.get(CONFIG_FILE, ""))
    _compare(root, branch, texts, report)
    _validators(root, branch, report)
    overrides = root / FLOWS
    if any(overrides.glob("*.yaml")):  # the shipped workflows alone: checked before shipping
        from harness.engine.loader import override_problems

        report.errors.extend(override_problems(overrides))
    _writable(state_dir, report)
    if socket_base() is None:  # every validation would stop at its seal
        report.errors.append(ConfigError("environment", "TMPDIR", NO_SOCKET_FOLDER))
    if config is not None:
        _factory_yaml(root, branch, config, report)
    report.errors.extend(leaky_uploads(root))
    report.warnings.extend(untouched(root, texts))
    return report


def _governance(texts: dict[str, str], report: CheckReport) -> None:
    """mission.md's problems, and factory_rules.md's (the default policy without front
    matter)."""
    if "mission.md" in texts:
        mission = read_mission(texts["mission.md"])
        report.errors.extend(mission.errors)
        report.warnings.extend(mission.warnings)
        report.notes.extend(mission.notes)
    if "factory_rules.md" in texts:
        _collect(report, parse_rules, texts["factory_rules.md"])
        if not has_front_matter(texts["factory_rules.md"]):
            report.warnings.append(
                "factory_rules.md: front matter: none (no --- block at the top); "
                "the default policy applies"
            )


def _factory_yaml(root: Path, branch: str, config: FactoryConfig, report: CheckReport) -> None:
    """What factory.yaml names — its models (as the provider lists them), the agents' output
    limits, the hold-out folder and its journeys — and what it reaches: the hosts set-up may
    reach, the model provider, GitHub, the project's tooling and its CI."""
    model_errors, model_warnings = model_problems(config, _listings(config, report))
    report.errors.extend(model_errors)
    report.errors.extend(output_problems(config, output_limits(root, config)))
    report.warnings.extend(model_warnings)
    holdout = _collect(report, holdout_path, root, config)
    problem = check_holdout(root, holdout) if holdout is not None else None
    if problem is not None:
        report.errors.append(problem)
    elif holdout is not None:
        _journeys(holdout, report)
    if config.network.allow is None:
        report.notes += _derived_allow(root, branch)
    ready = provider_readiness(root, config.provider)
    (report.notes if ready.ready else report.warnings).append(
        f"{CONFIG_FILE}: provider: {ready.provider}: {ready.detail}"
    )
    if config.forge == "github":
        _github(config, report)
    report.warnings.extend(project_warnings(root, config))
    report.errors.extend(ci_problems(root))


def _derived_allow(root: Path, branch: str) -> list[str]:
    """With no ``network.allow``: the hosts set-up may reach and where they come from."""
    try:  # no repository, or no production branch yet: said by the checks above
        hosts, commit, manifests = derived_allow(GitRepo(root), f"refs/heads/{branch}")
    except GitError:
        return []
    return [
        f"{CONFIG_FILE}: network.allow: unset, so set-up may reach {', '.join(hosts) or 'no host'}"
        f": the registries of {', '.join(manifests) or 'no manifest'} at {commit[:12]}, the "
        f"newest commit on {branch} that changed a governance file; list the hosts in "
        "network.allow to hold the list as it is"
    ]


SWITCH = "factory init --ci github-actions --from-rehearsal"


def ci_problems(root: Path) -> list[ConfigError]:
    """What a local rehearsal left in factory.yaml and factory_rules.md that the CI workflows
    ``factory init --ci`` wrote would take to GitHub, when they exist: another forge, a
    provider that answers without the model (scripted, replay, or auto with a script: its
    answers wherever no key is set), no repository named, and the rehearsal's trust (a kind
    that starts at auto while the provider rehearses). Each names the switch that fixes it
    (``SWITCH``); files that do not parse are ``check``'s to name."""
    found = ci_workflows(root)
    try:
        config = parse_config((root / CONFIG_FILE).read_text("utf-8"))
        rules = parse_rules((root / GOVERNANCE_FILES[1]).read_text("utf-8"))
    except (ConfigErrors, OSError):
        return []
    if not found:
        return []
    runs = f"the CI workflows ({', '.join(found)}) run on GitHub"
    fix = f"'{SWITCH}' switches it, keeping your other edits"
    provider = config.provider
    problems = []
    if config.forge != "github":
        problems.append((CONFIG_FILE, "forge", f"{config.forge}: {runs} with forge: github"))
    if provider.rehearses:
        why = (
            f"{provider.type}{' with a script' if provider.script else ''}: in CI its answers, "
            "not a model's, would decide every issue"
        )
        problems.append((CONFIG_FILE, "provider.type", why))
    if not config.github.repository_in_use:
        problems.append((CONFIG_FILE, "github.repository", f"not set: {runs}, for owner/name"))
    for kind in config.rehearsal_trust(rules):
        why = "auto was the rehearsal's: a model's changes of that kind would merge unapproved"
        problems.append(("factory_rules.md", f"trust.{kind}.start", why))
    return [ConfigError(file, key, f"{why}; {fix}") for file, key, why in problems]


def leaky_uploads(root: Path) -> list[ConfigError]:
    """Each step of the workflows under ``.github/workflows``, in a job that has seen the
    hold-out (it names ``FACTORY_HOLDOUT…`` or checks out another repository), that could
    publish its state folder or the hold-out (docs/github.md, "What leaves a job"): a path it
    hands an action (an artifact, a cache, a release; a checkout or a download only writes)
    or a word of its script (a summary, a release, the log, a tarball or a link in the plan)
    that reaches one, once expressions and variables are written out (``env``, ``$GITHUB_ENV``,
    the runner's folders spelled alike). The folders: each ``FACTORY_STATE_DIR`` and
    ``FACTORY_HOLDOUT`` the job sets, in its ``env`` or its scripts; with no state folder set,
    the default ``.factory`` in the checkout."""
    problems = []
    for path in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        with contextlib.suppress(
            OSError, ValueError, LookupError, yaml.YAMLError, AttributeError, TypeError
        ):  # not a workflow: actionlint's to say
            workflow = yaml.load(path.read_text("utf-8"), yaml.CSafeLoader)
            for name, job in workflow["jobs"].items():
                scopes = [workflow, job, *job.get("steps", [])]
                said = _expanded(
                    yaml.dump([workflow.get("env"), job], None, yaml.CSafeDumper, width=2**20), {}
                )
                if not re.search("FACTORY_HOLDOUT|repository:", said):
                    continue
                env = {k: str(v) for s in scopes for k, v in (s.get("env") or {}).items()}
                # each folder set in an env or a script (``$GITHUB_ENV``, ``export``)
                kept = re.findall(
                    r"(?:FACTORY_STATE_DIR|FACTORY_HOLDOUT)['\"]?[:=] *['\"]?([^\s'\"\\;]+)", said
                )
                kept += [] if "FACTORY_STATE_DIR" in said else ["$GITHUB_WORKSPACE/.factory"]
                for n, step in enumerate(scopes[2:], start=1):
                    writes = re.search("checkout@|download-artifact@", str(step.get("uses")))
                    given = "" if writes else " ".join(map(str, (step.get("with") or {}).values()))
                    text = _expanded(f"{given} {step.get('run', '')}", env)
                    words = re.split(r"[\s;&|<>()'\"=]+", text)  # those that may be a path:
                    words = [w for w in words if re.match(r"[.\w/]|\$\w", w)]  # never $? or [
                    reached = [
                        (w, f) for w in words for f in kept if _reaches(w, _expanded(f, env))
                    ]
                    problems += [
                        ConfigError(
                            path.relative_to(root).as_posix(),
                            f"jobs.{name}",
                            f"step {n} could publish {w}, which reaches {f}: a job that has seen "
                            "the hold-out hands on only the plan, never its state or the hold-out",
                        )
                        for w, f in reached[:1]
                    ]
    return problems


def _expanded(text: str, env: dict[str, str]) -> str:
    """``text`` with Actions' expressions (``${{ runner.temp }}`` is ``$RUNNER_TEMP``, as
    ``${{ env.RUNNER_TEMP }}``) and the variables ``env`` sets written out (three times: a
    value may name another)."""
    for _ in range(3):
        text = re.sub(
            r"\$\{\{\s*(?:env\.)?([\w.]+)\s*\}\}",
            lambda m: f"${m[1].upper().replace('.', '_')}",
            text,
        )
        text = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], m[0]), text)
    return text


def _reaches(word: str, folder: str) -> bool:
    """Whether publishing the path ``word`` publishes ``folder`` or a part of it."""
    word, folder = _canonical(word), _canonical(folder)
    return folder.startswith(word) or word.startswith(folder)


def _canonical(path: str) -> str:
    """``path`` up to its first wildcard (a prefix of every name it matches), under the
    workspace if relative, else ending in one ``/``."""
    head, *glob = re.split(r"[*?[]", path.strip(), maxsplit=1)
    head = head if head.startswith(("/", "$")) else f"$GITHUB_WORKSPACE/{head}"
    return posixpath.normpath(head) + ("" if glob else "/")


def project_warnings(root: Path, config: FactoryConfig) -> list[str]:
    """What ``factory init`` warns of the project, and ``factory check`` repeats while it
    holds: no interpreter the sandbox has fits pyproject.toml's ``requires-python``; no
    ``commands.start``; a ``commands.test`` that fits no ``test_files`` template (what chosen
    tests cost then)."""
    found = [python_problem(root)]
    if not config.commands.start:
        found.append(
            f"{CONFIG_FILE}: commands.start: not set: validation and 'factory doctor' cannot "
            "run the app; set the command that serves it on {port}"
        )
    if template(config.commands) is None:
        found.append(
            f"{CONFIG_FILE}: commands.test: `{config.commands.test}` fits no "
            "commands.test_files template (a shell operator, or a runner the factory does not "
            "know): a bug fix's fails-before proof, heal's re-run of the tests that failed and "
            "a backtest's hidden tests on the fix's parent each run the whole suite instead of "
            "the chosen tests; state commands.test_files (docs/testing.md)"
        )
    return [warning for warning in found if warning]


def _listings(config: FactoryConfig, report: CheckReport) -> dict[str, Listing] | None:
    """With a key and the anthropic provider: the API's model list, else None (without a key,
    which the provider's readiness warns of, the SDK is not even imported)."""
    if resolve_kind(config.provider.type) != "anthropic" or not api_key():
        return None
    from harness.model.anthropic_model import AnthropicModel

    try:
        listings = AnthropicModel(RetryPolicy(max_retries=1), timeout_s=20).list_models()
    except FactoryError as exc:
        report.warnings.append(f"models: the API's model list could not be read: {exc}")
        return None
    report.notes.append(f"models: the API lists {len(listings)} models for this key")
    return listings


def _github(config: FactoryConfig, report: CheckReport) -> None:
    """What the GitHub forge will need from the environment (nothing is contacted)."""
    repository = config.github.repository_in_use
    if not repository:  # GitHub Actions sets GITHUB_REPOSITORY
        report.warnings.append(
            f"{CONFIG_FILE}: github.repository: not set and neither is $GITHUB_REPOSITORY"
        )
    if not os.environ.get("GITHUB_TOKEN", "").strip():
        report.warnings.append(
            "environment: GITHUB_TOKEN: not set; every command but check needs it with "
            "forge: github"
        )
    else:
        api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
        report.notes.append(f"github: {repository or '?'} through {api}")
