"""``factory init`` and ``factory check``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.common import emit_json, json_option, target_of
from harness.errors import ConfigErrors, UsageError
from harness.onboard import CI


@click.command()
@click.option(
    "--forge",
    type=click.Choice(["local", "github"]),
    help="The forge factory.yaml names (default: github with --ci, else local).",
)
@click.option(
    "--ci",
    type=click.Choice(sorted(CI)),
    help="Also write CI workflows for scale-out.",
)
@click.option(
    "--from-rehearsal",
    is_flag=True,
    help="With --ci: switch factory.yaml and factory_rules.md from the local rehearsal to "
    "GitHub (forge, repository, provider, the rehearsal's trust, the owner trusted), keeping "
    "every other edit.",
)
@click.option(
    "--package",
    help="With --ci: the pinned source CI installs the harness from (a git URL with a full "
    "commit, or a wheel URL with #sha256=); default: the source this harness came from.",
)
@click.option(
    "--ack",
    is_flag=True,
    help="With --ci: also a job that answers every new issue at once (the pre-screen, no model).",
)
@click.option("--force", is_flag=True, help="Overwrite every file that exists (each one named).")
@click.option("--force-governance", "force_kinds", flag_value="governance", multiple=True)
@click.option("--force-forms", "force_kinds", flag_value="forms", multiple=True)
@click.option(
    "--force-workflows",
    "force_kinds",
    flag_value="workflows",
    multiple=True,
    help="Overwrite only that kind of file: the four governance files (and scripted.yaml), "
    "the CI's issue forms, its workflows. Without a --force, files that exist are kept.",
)
@click.option(
    "--provider",
    "init_provider",
    type=click.Choice(["auto", "anthropic", "scripted", "replay"]),
    help="The provider factory.yaml names (default: the global --provider, else auto); "
    "scripted also writes scripted.yaml, example offline answers.",
)
@click.pass_context
def init(
    ctx: click.Context,
    forge: str | None,
    ci: str | None,
    from_rehearsal: bool,
    package: str | None,
    ack: bool,
    force: bool,
    force_kinds: tuple[str, ...],
    init_provider: str | None,
) -> None:
    """Write mission.md, factory_rules.md, CLAUDE.md and factory.yaml templates here.

    Commands in factory.yaml are chosen for the project found here (Python, Node or plain)
    and work in the sandbox. With --provider scripted, also writes scripted.yaml, a
    commented example of offline answers. A file that exists is kept, and named, unless a
    --force says otherwise; the CI's issue forms and workflows have names of their own."""
    from harness.config.pinning import ci_package
    from harness.onboard import check, scaffold

    target = target_of(ctx)
    root = target.root
    given = {"--package": package is not None, "--ack": ack, "--from-rehearsal": from_rehearsal}
    alone = [option for option, used in given.items() if used]
    if alone and not ci:
        raise UsageError(f"{alone[0]}: only used with --ci")
    provider = init_provider or target.provider or "auto"
    pinned = ci_package(package) if ci else ""
    forge = forge or ("github" if ci else "local")
    context = scaffold.context_for(root, forge, provider, pinned, ack)
    for line in scaffold.from_rehearsal(root, context["repository"]) if from_rehearsal else []:
        click.echo(f"switched {line}")
    files = scaffold.governance_files(root, context)
    if ci:
        files.update(scaffold.shipped_ci_files(root, ci, context))
    for line in scaffold.write_new(root, files, set(scaffold.KINDS if force else force_kinds)):
        click.echo(line)
    for problem in check.ci_problems(root) if ci else []:
        click.echo(f"GitHub needs: {problem}")
    _after(root, context, pinned)


def _after(root: Path, context: dict[str, Any], pinned: str) -> None:
    """What ``init`` adds once the files are written: a first hold-out journey, the project
    found, the pinned source, the state folder ignored, and what to do next."""
    from harness.config.settings import parse_config
    from harness.onboard import scaffold
    from harness.onboard.check import project_warnings

    starter = scaffold.starter_holdout(root, (root / "factory.yaml").read_text(encoding="utf-8"))
    if starter is not None:
        path, text = starter
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path} (a first hold-out journey: the home page loads; add your own)")
    click.echo(f"project: {context['project']['label']}; commands in factory.yaml chosen for it")
    config = parse_config((root / "factory.yaml").read_text(encoding="utf-8"))
    warnings = project_warnings(root, config)  # 'factory check' repeats them while they hold
    for warning in warnings:
        click.echo(f"warning: {warning}")
    if pinned:
        click.echo(f"CI installs the harness from {pinned}")
    if scaffold.add_state_to_gitignore(root, str(context["project"]["kind"]).startswith("python")):
        click.echo("added .factory/ (the factory's local state) to .gitignore")
    todo = " (and what the warnings above say)" if warnings else ""
    click.echo(
        f"next: edit these files{todo}, run 'factory check', commit them, then 'factory doctor'"
    )


@click.command()
@json_option("Print ok, errors, warnings, notes as JSON.")
@click.pass_context
def check(ctx: click.Context, as_json: bool) -> None:
    """Validate governance files, factory.yaml and the hold-out journeys."""
    from harness.onboard.check import check as run_check

    target = target_of(ctx)
    report = run_check(target.root, target.state)
    if as_json:
        errors = [{"file": e.file, "key": e.key, "problem": e.problem} for e in report.errors]
        emit_json({"ok": report.ok, **vars(report), "errors": errors})  # the warnings, notes
        if not report.ok:
            ctx.exit(2)
        return
    for note in report.notes:
        click.echo(f"note: {note}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    if not report.ok:
        raise ConfigErrors(report.errors)
    click.echo("ok: static checks pass; 'factory doctor' runs setup, tests, the app and journeys")
