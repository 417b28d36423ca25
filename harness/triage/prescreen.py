"""The deterministic pre-screen: decisions that need no model, made before any token is spent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import regex

from harness.artifacts import Screened
from harness.caches import PROCESS, Memo
from harness.forge.base import issue_sha256
from harness.triage.sanitize import Sanitized, comments_in, sanitize

if TYPE_CHECKING:
    from harness.config.models import Rules, TriageRules
    from harness.forge.base import Issue
    from harness.git.repo import GitRepo

MAX_LINES = 2000
# a file name: it starts where a run of path characters starts (a start inside the run would
# find nothing the run's start did not, and retrying every one of them was quadratic)
_FILENAME = re.compile(
    r"(?<![\w./\\-])[\w./\\-]*[\w-]\.[a-z]{2,5}\b|\.github/|\.git/|\.factory/", re.IGNORECASE
)
_CONFUSABLE = str.maketrans({"1": "l", "0": "o", "3": "e", "5": "s", "|": "l", "_": "_"})


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def protected_literals(patterns: list[str]) -> list[str]:
    """Literal names a request would mention to touch a protected path.

    ``.github/**`` becomes ``.github/``; ``.git/`` is always included."""
    heads = (re.split(r"[*?\[]", pattern, maxsplit=1)[0].casefold() for pattern in patterns)
    return sorted({".git/", *(head for head in heads if head)})


def _near(name: str, literal: str) -> bool:
    """Whether ``name`` is ``literal`` but for at most two characters added, dropped or
    changed (an edit distance of 2 at most: ``regex``'s fuzzy matching)."""
    return regex.fullmatch(rf"(?:{regex.escape(literal)}){{e<=2}}", name) is not None


def mentioned_protected(text: str, patterns: list[str]) -> str | None:
    """The protected path ``text`` names (or imitates, ``factory_ru1es.md``), if any."""
    lowered = text.casefold().replace("\\", "/")
    literals = protected_literals(patterns)
    for literal in literals:
        if literal in lowered:
            return literal
    for token in _FILENAME.findall(lowered):
        plain = token.translate(_CONFUSABLE).lstrip("./")
        for literal in literals:
            bare = literal.lstrip("./")
            if "." in bare and bare.rstrip("/") and _near(plain, bare):
                return literal
    return None


def find_duplicate(issue: Issue, others: list[Issue]) -> Issue | None:
    """An earlier issue with the same title, or the same substantial body."""
    title, body = _normal(issue.title), _normal(issue.body)
    for other in sorted(others, key=lambda i: i.number):
        if other.number >= issue.number:
            continue
        if title and _normal(other.title) == title:
            return other
        if len(body) >= 40 and _normal(other.body) == body:
            return other
    return None


def prescreen(
    issue: Issue,
    others: list[Issue],
    rules: Rules,
    judged_today: int | None,
    template_comments: Iterable[str] = (),
    own: str | None = None,
) -> Screened:
    """Decide what code can decide: size caps, hidden text, protected paths, duplicates, limits.

    ``judged_today`` is how many of this author's issues the triage agent judged today, None
    where no daily limit applies (``triage.actions.judged_today`` says which);
    ``template_comments`` are the guidance comments of the repository's issue templates;
    ``own``: the body as the factory signed it, when it filed the issue itself
    (``forge.base.own_text``): its escaping hides nothing, what it quotes still may, and its
    request is its title (the body is evidence, citing the rules it cites).
    The size caps come first: nothing longer than they allow is ever scanned.
    """
    limits = rules.triage
    too_long = _size_rules(issue, limits)
    title = sanitize(issue.title[: limits.max_title_chars], template_comments)
    signed = own is not None
    raw = issue.body if own is None else own
    body = Sanitized("", ()) if too_long else sanitize(raw, template_comments, signed)
    hidden = tuple(dict.fromkeys(title.hidden + body.hidden))
    asked = title.text if signed else f"{title.text}\n{body.text}"
    # the factory's own issue is filed once by its key (``file_once``): never a duplicate of a
    # stranger's that copied its title first
    earlier = [] if signed else others
    decision, reason, rule = too_long or _content_rules(
        issue, earlier, rules, judged_today, asked, hidden
    )
    return Screened(
        decision=decision,
        reason=reason,
        rule=rule,
        title=title.text,
        body=body.text,
        issue_sha256=issue_sha256(issue),
        hidden=hidden,
    )


Decided = tuple[str | None, str, str]  # (decision, reason, rule); None: the agent judges


def _size_rules(issue: Issue, limits: TriageRules) -> Decided | None:
    """The size caps: a title or a description longer than they allow is rejected, and the
    description then never scanned."""
    lines = issue.body.count("\n") + 1
    if len(issue.title) > limits.max_title_chars:
        return (
            "reject",
            f"The title is {len(issue.title):,} characters long; the limit is "
            f"{limits.max_title_chars:,}.",
            "factory_rules.md: triage.max_title_chars",
        )
    if len(issue.body) > limits.max_body_chars or lines > MAX_LINES:
        return (
            "reject",
            f"The description is {len(issue.body):,} characters in {lines:,} lines; the limit is "
            f"{limits.max_body_chars:,} characters and {MAX_LINES:,} lines. "
            "Please file a shorter issue.",
            "factory_rules.md: triage.max_body_chars",
        )
    return None


def _content_rules(
    issue: Issue,
    others: list[Issue],
    rules: Rules,
    judged_today: int | None,
    asked: str,
    hidden: tuple[str, ...],
) -> Decided:
    """What the sanitised text decides — what it ``hidden`` (title and body), a protected
    path (in what is ``asked``), a duplicate, the author's daily limit — as (decision,
    reason, rule); None: the triage agent judges."""
    if hidden:
        return (
            "needs_human",
            "The issue contains hidden or invisible content (" + "; ".join(hidden) + "). "
            "A maintainer must read it before any agent does.",
            "pre-screen: hidden text is never handed to an agent",
        )
    touched = mentioned_protected(asked, list(rules.protected_paths))
    if touched:
        return (
            "needs_human",
            f"The request concerns the protected path `{touched}`, which the factory never changes "
            "on its own.",
            "factory_rules.md: protected_paths",
        )
    duplicate = find_duplicate(issue, others)
    if duplicate is not None:
        return (
            "reject",
            f"This duplicates issue {duplicate.number} ({duplicate.title[:80]!r}).",
            "pre-screen: a duplicate gives way to the earlier issue",
        )
    if judged_today is not None and judged_today >= rules.triage.max_issues_per_author_per_day:
        return (
            "deferred",
            f"The author has reached today's limit of {rules.triage.max_issues_per_author_per_day} "
            "triaged issues; this one will be triaged on a later day.",
            "factory_rules.md: triage.max_issues_per_author_per_day",
        )
    return None, "", ""


ISSUE_TEMPLATES = ".github/ISSUE_TEMPLATE/"


class _TemplateComments(Memo[frozenset[str]]):
    """Commit -> its issue templates' comments."""


def template_comments(repo: GitRepo, commit: str) -> frozenset[str]:
    """The HTML comments in the issue templates committed at ``commit`` (production): the
    guidance GitHub leaves in every issue filed from a Markdown template."""

    def read() -> frozenset[str]:
        found: set[str] = set()
        for path in repo.list_tree(commit, ISSUE_TEMPLATES):
            data = repo.read_blob(commit, path)
            if data is not None and len(data) <= 200_000:
                found.update(c for c in comments_in(data.decode("utf-8", "replace")) if c)
        return frozenset(found)

    return PROCESS.part(_TemplateComments).get(commit, read)
