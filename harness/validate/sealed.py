"""The sealed validator runs in a process of its own whose file system view has no
repository, no worktree, no state directory and no hold-out: bubblewrap mounts empty
folders over them. It gets, on standard input, only what the seal allows (governance,
the issue's title and body, the acceptance criteria, the app's URL) and answers, on
standard output, with its verdict and the record of its model calls.

Run as ``python -m harness.validate.sealed`` (inside the seal, by ``run_sealed``)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import FactoryError, ModelError, ToolError
from harness.redact import redact

_PASS_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "FACTORY_CHROMIUM",
    "PLAYWRIGHT_BROWSERS_PATH",
)


# The seal keeps root with only the two capabilities that let it start the browser inside the
# app's network namespace (``nsenter`` opens another uid's namespace and enters it), and
# shares the host's process list for the same reason; it runs the harness's own code, never
# agent-written code. See docs/sandbox.md.
SEAL_CAPS = ("CAP_SYS_ADMIN", "CAP_SYS_PTRACE")


def _own_files(extra: list[Path]) -> list[Path]:
    """What the seal must read besides the system: the interpreter's environment, the harness
    package and its shipped data, the browser when it lives outside the system folders."""
    from harness.paths import validators_dir, workflows_dir

    own = [
        Path(sys.prefix),
        Path(sys.base_prefix),  # the interpreter a virtualenv points at (e.g. under ~/.pyenv)
        Path(sys.executable).resolve().parent.parent,
        Path(__file__).resolve().parents[1],
        workflows_dir(),
        validators_dir(),
    ]
    for key in ("FACTORY_CHROMIUM", "PLAYWRIGHT_BROWSERS_PATH"):
        if os.environ.get(key):
            target = Path(os.environ[key]).resolve()
            own.append(target.parent if target.is_file() else target)
    fonts = Path("/var/cache/fontconfig")
    if fonts.is_dir():
        own.append(fonts)
    return [p.resolve() for p in [*own, *extra] if p.exists()]


def sealed_argv(
    masked: list[Path],
    writable: list[Path],
    command: list[str] | None = None,
    readable: list[Path] | None = None,
) -> list[str]:
    """The seal's bubblewrap command line: the read-only system, the harness's own files,
    ``writable`` folders and the network (for the model); the repository, worktrees, state
    and hold-out (``masked``) are never mounted."""
    from harness.sandbox.bwrap import View, bwrap_argv, running_as_root

    for path in writable:
        path.mkdir(parents=True, exist_ok=True)
    view = View(
        writable=tuple(p.resolve() for p in writable),
        readable=tuple(_own_files(readable or [])),
        hidden=tuple(p.resolve() for p in masked if p.exists()),
        network=True,
        keep_caps=SEAL_CAPS if running_as_root() else (),
        clear_env=False,
        share_pid=True,
    )
    return bwrap_argv(view, command or [sys.executable, "-m", "harness.validate.sealed"])


def run_sealed(
    request: dict[str, Any], masked: list[Path], writable: list[Path], timeout_s: float = 900
) -> dict[str, Any]:
    """Run the validator agent in the seal; return its JSON answer."""
    with tempfile.TemporaryDirectory(prefix="factory-sealed-") as home:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home}
        env["LANG"] = "C.UTF-8"
        env.update({k: os.environ[k] for k in _PASS_ENV if k in os.environ})
        proc = subprocess.run(
            sealed_argv(masked, [Path(home), *writable], readable=_replay(request)),
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            cwd=home,
        )
    try:
        answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        tail = redact(proc.stderr.strip())[-400:]
        raise ModelError(f"the sealed validator crashed (exit {proc.returncode}): {tail}") from exc
    return answer


def _replay(request: dict[str, Any]) -> list[Path]:
    replay = (request.get("provider") or {}).get("replay")
    return [Path(replay).parent] if replay else []


class _Hooks:
    """The validator's allowance, checked before each call; each call recorded after it."""

    def __init__(self, budget_usd: float, model: str) -> None:
        self.budget, self.model = budget_usd, model
        self.records: list[Any] = []

    def before_call(self, request: dict[str, Any]) -> None:
        from harness.engine.budget import check_caps, worst_case_cost

        spent = sum(r.cost_usd for r in self.records)
        check_caps([("validator", self.budget, spent)], worst_case_cost(self.model, request))

    def after_call(self, record: Any) -> None:
        self.records.append(record)


def _model(provider: dict[str, Any]) -> Any:
    from harness.model.factory import build_model
    from harness.model.scripted import Rule, ScriptedModel

    if provider["type"] == "scripted":
        return ScriptedModel([Rule.model_validate(r) for r in provider.get("rules", [])])
    return build_model(
        provider["type"],
        replay=Path(provider["replay"]) if provider.get("replay") else None,
        max_retries=provider.get("max_retries", 3),
        max_retry_wait_s=provider.get("max_retry_wait_s", 60),
    )


def main() -> None:
    from harness.browser.chromium import BrowserSession
    from harness.browser.tools import BrowserTools
    from harness.model.agent import AgentSpec, run_agent

    request = json.load(sys.stdin)
    hooks = _Hooks(float(request["budget_usd"]), request["model"])
    answer: dict[str, Any]
    try:
        spec = AgentSpec(
            role="validator",
            model=request["model"],
            governance=[tuple(g) for g in request["governance"]],  # type: ignore[misc]
            instructions=request["instructions"],
            task=request["task"],
            tools=list(request["tools"]),
            output_tool=request["output"],
            max_turns=int(request["max_turns"]),
            thinking=request.get("thinking"),
            effort=request.get("effort"),
        )
        with BrowserSession(netns_pid=request.get("netns_pid")) as session:
            tools = BrowserTools(session, request["app_url"], Path(request["shots_dir"]))
            try:
                try:  # the validator's brief says the app is open at its home page
                    tools.open_home()
                except ToolError as exc:
                    raise FactoryError(f"the app's home page did not open: {exc}") from exc
                # only the tools its definition gives it: one dropped there is not callable
                handlers = {n: h for n, h in tools.handlers().items() if n in spec.tools}
                result = run_agent(_model(request["provider"]), spec, handlers, hooks)
            finally:
                tools.close()
        answer = {
            "output": result.output,
            "messages": result.messages,
            "shots": tools.shots,
            "blocked": tools.guard.blocked,
            "observed": [dataclasses.asdict(o) for o in tools.observed],
        }
    except FactoryError as exc:
        answer = {"error": type(exc).__name__, "message": str(exc)}
    answer["calls"] = [dataclasses.asdict(r) for r in hooks.records]
    print(redact(json.dumps(answer)))


if __name__ == "__main__":
    main()
