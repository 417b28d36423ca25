"""How every face writes what the records hold: one Jinja environment a process, for the
dashboard's pages (``harness/serve/templates/``, HTML-escaped) and the command line's reports
(``workflows/report/``, plain text), and the filters both use, so a cost, a duration, a time
or a share reads the same on the page and on the terminal. The templates hold the words and
loop over fields; what is worked out of a record is its method or one of these filters."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import terminal_safe
from harness.paths import workflows_dir

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

PAGES = Path(__file__).resolve().parent.parent / "serve" / "templates"  # the dashboard's
RAW_HTML = False  # Markdown's raw HTML is kept as text


def money(value: float | None) -> str:
    return f"${value or 0:.4f}"


def took(seconds: float | None) -> str:
    if seconds is None:  # not ended yet
        return "—"
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def when(text: str | None) -> str:
    """A stored time to the second, as UTC reads it."""
    return (text or "")[:19].replace("T", " ")


def pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def short(sha: str | None) -> str:
    """A commit as a person reads it: its first 12 characters."""
    return (sha or "")[:12]


def markdown(text: str | None) -> Markup:
    """Markdown a person or an agent wrote (an issue, a comment) as HTML: rendered by
    markdown-it, then cleaned by nh3 (the ammonia sanitiser's allow-list: no script, style,
    handler, frame or ``javascript:`` link; a link opens nothing of the dashboard's), images
    left out (the page loads none from elsewhere)."""
    import nh3  # the dashboard's alone
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    html = MarkdownIt("commonmark", {"html": RAW_HTML}).enable("table").render(text or "")
    return Markup(nh3.clean(html, tags=nh3.ALLOWED_TAGS - {"img"}))  # noqa: S704 (nh3 cleaned it)


@cache
def environment() -> jinja2.Environment:
    """The process's one environment: ``.html`` escaped, the text reports not; a name it does
    not know fails the render."""
    import jinja2  # when first needed: a command that prints no report starts without it

    from harness.engine.killswitch import MAX_STOP_REASON

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([workflows_dir() / "report", PAGES]),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # a report's last line is a line like the others
    )
    env.filters.update(
        terminal_safe=terminal_safe,
        money=money,
        took=took,
        when=when,
        pct=pct,
        mark=mark,
        short=short,
        markdown=markdown,
    )
    env.globals["max_reason"] = MAX_STOP_REASON
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(context)
