"""Jinja rendering of prompt and comment templates, strict about undefined names.

Templates are looked up first in the target repository's ``.factory/workflows/``
(read from the production branch, never a candidate worktree), then in the
shipped ``workflows/`` folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jinja2
import jinja2.bccache
from jinja2.sandbox import SandboxedEnvironment

from harness.caches import Memo
from harness.errors import ConfigError
from harness.forge import neutral
from harness.model.prompt import GOVERNANCE, unclosable
from harness.paths import validators_dir, workflows_dir

Overrides = Callable[[str], str | None]


def wrap_data(text: str, tag: str) -> str:
    """Wrap untrusted text as data that can neither close its own wrapper (fake
    ``</issue>``, B9) nor open a governance file's (``harness.model.prompt.unclosable``)."""
    return f"<{tag}>\n{unclosable(str(text), tag, GOVERNANCE)}\n</{tag}>"


FORGE_TEMPLATES = "comments/"
FORGE_FILTERS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "code": neutral.code,
        "cell": neutral.cell,
        "fenced": neutral.fenced,
        "inline": neutral.inline,
        "inert": neutral.inert,
        "plain": neutral.plain,
    }
)


def _for_forge(value: Any) -> Any:
    """Jinja's ``finalize`` for forge text: numbers and the filters' output pass, the rest is
    encoded as inert Markdown."""
    if value is None or isinstance(value, (bool, int, float, neutral.Markdown)):
        return value
    return neutral.inert(value)


class _SharedBytecode(jinja2.BytecodeCache):
    """Compiled templates shared by every environment of the process (keyed by source)."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _SharedBytecode()


class Templates:
    """Renders named templates with ``StrictUndefined`` in a sandboxed Jinja environment."""

    def __init__(self, overrides: Overrides = lambda _name: None) -> None:
        def load(name: str) -> str | None:
            text = overrides(name)
            if text is not None:
                return text
            if name.startswith("validators/"):
                path = validators_dir() / name.removeprefix("validators/")
            else:
                path = workflows_dir() / name
            return path.read_text(encoding="utf-8") if path.is_file() else None

        def environment(**options: Any) -> SandboxedEnvironment:
            env = SandboxedEnvironment(
                loader=jinja2.FunctionLoader(load),
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                autoescape=False,
                bytecode_cache=_BYTECODE,
                **options,
            )
            env.filters["wrap_data"] = wrap_data
            env.filters.update(FORGE_FILTERS)
            return env

        self.env = environment()
        # What goes to a forge (``comments/``: comments and pull request bodies): every
        # ``{{ value }}`` is neutralised unless a filter below made it (see neutral.py).
        self.forge_env = environment(finalize=_for_forge)
        # each template loaded (a workflow's strings and few expressions: compiled) once:
        # runs that start together wait for the one making it
        self._loaded: Memo[jinja2.Template] = Memo(limit=None)
        self._strings: Memo[jinja2.Template] = Memo(limit=None)
        self._expressions: Memo[jinja2.environment.TemplateExpression] = Memo(limit=None)

    def render(self, name: str, **context: Any) -> str:
        env = self.forge_env if name.startswith(FORGE_TEMPLATES) else self.env
        try:
            return self._loaded.get(name, lambda: env.get_template(name)).render(**context)
        except jinja2.TemplateNotFound as exc:
            raise ConfigError(f"workflows/{name}", "(file)", "template not found") from exc
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"workflows/{name}", "(template)", exc.message or "undefined"
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"workflows/{name}", f"line {exc.lineno}", exc.message or "syntax"
            ) from exc

    def render_string(self, source: str, **context: Any) -> str:
        try:
            compiled = self._strings.get(source, lambda: self.env.from_string(source))
            return compiled.render(**context)
        except (jinja2.UndefinedError, jinja2.TemplateSyntaxError) as exc:
            raise ConfigError("workflow", source, exc.message or "template error") from exc

    def evaluate(self, expression: str, **context: Any) -> Any:
        """Evaluate a ``when:`` expression (``"{{ x }}"`` or a bare expression)."""
        expr = expression.strip()
        if expr.startswith("{{") and expr.endswith("}}"):
            expr = expr[2:-2].strip()
        try:
            compiled = self._expressions.get(
                expr, lambda: self.env.compile_expression(expr, undefined_to_none=False)
            )
            return compiled(**context)
        except jinja2.UndefinedError:
            return None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError("workflow", f"when: {expression}", exc.message or "syntax") from exc
