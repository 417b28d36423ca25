"""``factory init`` and ``factory check``."""

from __future__ import annotations

from pathlib import Path

import click
import jinja2

from harness.cli.common import emit_json, repo_root, state_dir
from harness.config.check import check as run_check
from harness.errors import ConfigErrors, UsageError
from harness.git.repo import GitRepo
from harness.paths import workflows_dir

_TEMPLATES = {
    "mission.md": "mission.md.j2",
    "factory_rules.md": "factory_rules.md.j2",
    "CLAUDE.md": "CLAUDE.md.j2",
    "factory.yaml": "factory.yaml.j2",
}


def _render(folder: Path, template: str, **context: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (markdown and YAML, not HTML)
    )
    return env.get_template(template).render(**context)


def _ci_files(root: Path, ci: str) -> dict[Path, str]:
    folder = workflows_dir() / "init" / ci
    if not folder.is_dir():
        raise UsageError(f"--ci {ci}: no CI templates are shipped in this version")
    out: dict[Path, str] = {}
    for template in sorted(folder.rglob("*")):
        if template.is_file():
            rel = template.relative_to(folder)
            out[root / str(rel).removesuffix(".j2")] = template.read_text(encoding="utf-8")
    return out


def _gitignore(root: Path) -> None:
    block = (workflows_dir() / "init" / "gitignore.txt").read_text(encoding="utf-8")
    path = root / ".gitignore"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if ".factory/*" in current.splitlines():
        return
    sep = "" if not current or current.endswith("\n") else "\n"
    path.write_text(current + sep + ("\n" if current else "") + block, encoding="utf-8")


@click.command()
@click.option("--forge", type=click.Choice(["local", "github"]), default="local", show_default=True)
@click.option(
    "--ci",
    type=click.Choice(["github-actions"]),
    default=None,
    help="Also write CI workflows for scale-out.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_context
def init(ctx: click.Context, forge: str, ci: str | None, force: bool) -> None:
    """Write mission.md, factory_rules.md, CLAUDE.md and factory.yaml templates here."""
    root = repo_root(ctx)
    branch = GitRepo(root).head_branch() or "main"
    folder = workflows_dir() / "init"
    files = {
        root / target: _render(folder, template, name=root.name, forge=forge, branch=branch)
        for target, template in _TEMPLATES.items()
    }
    if ci:
        files.update(_ci_files(root, ci))
    existing = sorted(str(p.relative_to(root)) for p in files if p.exists())
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "nothing written (use --force to overwrite)"
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path.relative_to(root)}")
    _gitignore(root)
    click.echo("next: edit these files, commit them, then run 'factory check'")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def check(ctx: click.Context, as_json: bool) -> None:
    """Validate governance files, factory.yaml and the hold-out journeys."""
    root = repo_root(ctx)
    report = run_check(root, state_dir(root))
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "errors": [
                    {"file": e.file, "key": e.key, "problem": e.problem} for e in report.errors
                ],
                "warnings": report.warnings,
            }
        )
        if not report.ok:
            ctx.exit(2)
        return
    for warning in report.warnings:
        click.echo(f"note: {warning}")
    if not report.ok:
        raise ConfigErrors(report.errors)
    click.echo("ok")
