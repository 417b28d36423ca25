"""The sealed validator: an agent in a process of its own, confined like agent code
(docs/sandbox.md, "The app, the browser and the seal", says what it sees and why): its view is
``run_in_seal``'s; its model and its browser are two Unix sockets served by ``run_sealed``.

Run as ``python -I -m harness.validate.sealed`` (inside the seal, by ``run_sealed``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from harness.artifacts import Artifact, Observation, ValidatorRun, Verdict
from harness.digest import sha256
from harness.engine.definition import ValidatorDefinition
from harness.errors import FactoryError, ModelError, SandboxError, ToolError
from harness.model.agent import AgentHooks, AgentSpec
from harness.model.base import CallRecord, Model
from harness.model.blocks import Handler, Request
from harness.redact import masked, redact
from harness.sandbox.app import AppNotReady
from harness.sandbox.bwrap import CONFINED_ENV, SAFE_PATH, interpreter
from harness.sandbox.peers import Peers

SEAL_COMMAND = (sys.executable, "-I", "-m", "harness.validate.sealed")


class ValidatorQuestion(Artifact):
    """What the validator is asked, apart from the app: its model, the governance and the
    task. A verdict is only ever kept for the same question (``digest``)."""

    model: str
    thinking: str | None = None
    effort: str | None = None
    governance: list[tuple[str, str]]
    task: str
    criteria: list[str] = Field(default_factory=list)  # the spec's, judged by their ids

    def digest(self) -> str:
        asked = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return sha256(asked)


class SealRequest(Artifact):
    """All the seal gets, on standard input: the question, the validator's ``definition``
    (tools, output tool, turns, what every observation is read for) and its prompt rendered
    (``instructions``), its budget, the app to open, its screenshots folder and its two
    sockets (names drawn per run, in a folder only the harness may change). Built in one place
    (``harness.validate.evidence.sealed_request``) and validated again in the seal. With
    ``replay``, no model is asked: those recorded actions are done again, in order, from the
    app's home page, and the answer is what each showed."""

    question: ValidatorQuestion
    definition: ValidatorDefinition
    instructions: str
    budget_usd: float
    app_url: str
    shots_dir: str
    model_socket: str
    browser_socket: str
    harness_uid: int  # who serves both sockets: the seal talks to no other listener
    replay: list[Observation] | None = None

    @property
    def sockets(self) -> Path:
        return Path(self.model_socket).parent


def _own_files(extra: list[Path]) -> list[Path]:
    """What the seal must read besides the system: the interpreter's environment, the harness
    package and its shipped data."""
    from harness.paths import validators_dir, workflows_dir

    own = [*interpreter(), Path(__file__).resolve().parents[1], workflows_dir(), validators_dir()]
    return list(dict.fromkeys(p.resolve() for p in [*own, *extra] if p.exists()))


def run_in_seal(
    command: list[str],
    hidden: tuple[Path, ...],
    writable: list[Path],
    readable: list[Path],
    stdin: str,
    timeout_s: float,
    peers: Peers,
    netns_pid: int | None,
) -> subprocess.CompletedProcess[str]:
    """``command`` in the seal (the one command line of it, for validation and ``factory
    doctor`` alike): the read-only system, the harness's own files, ``readable`` and
    ``writable`` folders, no network but the app's (``netns_pid``'s namespace, entered first:
    its request client reaches the app, as its browser does); the repository, worktrees,
    state and hold-out (``hidden``) are never mounted. Under the sandbox's seccomp filter
    and limits (a cgroup of its own); the writable folders are handed to the sandbox uid
    first; ``peers`` learns the seal's process."""
    from harness.sandbox import holding, seccomp
    from harness.sandbox.app import enter_network
    from harness.sandbox.bwrap import View, bwrap_argv
    from harness.sandbox.limits import Cgroup, Limits

    for path in writable:
        path.mkdir(parents=True, exist_ok=True)
        holding.walk(path, hand_over=holding.as_root())
    view = View(
        writable=tuple(p.resolve() for p in writable),
        readable=tuple(_own_files(readable)),
        hidden=hidden,
        env=dict(CONFINED_ENV),
        network=netns_pid is not None,
    )
    filter_fd, cgroup = seccomp.filter_fd(), Cgroup(Limits())
    argv = [*enter_network(netns_pid), *bwrap_argv(view, command, seccomp_fd=filter_fd)]
    try:
        with subprocess.Popen(
            cgroup.entered(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": SAFE_PATH},
            pass_fds=() if filter_fd is None else (filter_fd,),
        ) as proc:
            peers.started(proc.pid)
            try:
                out, err = proc.communicate(stdin, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
    finally:
        cgroup.remove()
        if filter_fd is not None:
            os.close(filter_fd)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def not_started(proc: subprocess.CompletedProcess[str]) -> AppNotReady:
    """The seal's process ``proc`` ended before it asked for its browser
    (``BrowserBroker.browsing``), with no answer: its own start failed (its interpreter, its
    imports) before anything of the app or the change could reach it — the environment's,
    never a verdict (validation counts it inconclusive, as an app still starting; ``factory
    doctor`` names it). Said with the last lines it wrote to its standard error, redacted
    (an import's error names the module its environment lacks), and what mends it."""
    said = (
        f"the sealed validator did not start (exit {proc.returncode}; a module missing: "
        "install the harness again, make install)"
    )
    return AppNotReady(said, redact(proc.stderr), environment=True)


class Allowance(AgentHooks):
    """The validator's own allowance on top of ``hooks`` (the step's kill switch and budget
    checks, and its record of every call): ``budget_usd`` for this validator's calls."""

    def __init__(self, hooks: AgentHooks, budget_usd: float) -> None:
        self.hooks, self.budget, self.spent = hooks, budget_usd, 0.0

    def before_call(self, request: Request) -> None:
        from harness.engine.budget import check_caps, worst_case_cost

        self.hooks.before_call(request)
        need = worst_case_cost(request["model"], request)
        check_caps([("validator", self.budget, self.spent)], need)

    def after_call(self, record: CallRecord) -> None:
        self.spent += record.cost_usd
        self.hooks.after_call(record)


def run_sealed(
    request: SealRequest,
    *,
    model: Model,
    hooks: AgentHooks,
    netns_pid: int | None,
    hidden: tuple[Path, ...],
) -> ValidatorRun:
    """Run the validator agent in the seal against the app in ``netns_pid``'s network
    namespace, its model calls answered by ``model`` and checked by ``hooks``, for as long as
    its definition's ``timeout_s``, the ``hidden`` paths masked in the seal and its browser;
    return its answer, or raise what the harness refused a call for (``factory stop``, a
    budget)."""
    timeout_s = request.definition.timeout_s
    from harness.browser.chromium import find_chromium
    from harness.browser.confine import BrowserBroker, Launcher
    from harness.validate.forward import ModelForwarder

    sockets, writable, peers = request.sockets, Path(request.shots_dir), Peers()
    with tempfile.TemporaryDirectory(prefix="factory-browser-") as launcher_dir:
        launcher = Launcher(Path(launcher_dir), find_chromium(), netns_pid, hidden=hidden)
        allowance = Allowance(hooks, request.budget_usd)
        model_socket = Path(request.model_socket)
        forwarder = ModelForwarder(model_socket, model, allowance, request.question.model, peers)
        with forwarder, BrowserBroker(Path(request.browser_socket), launcher, peers) as broker:
            stdin = request.model_dump_json()
            try:
                proc = run_in_seal(
                    list(SEAL_COMMAND),
                    hidden,
                    [writable],
                    [sockets],
                    stdin,
                    timeout_s,
                    peers,
                    netns_pid,
                )
            except subprocess.TimeoutExpired:
                proc = None
        launcher.close()
    if forwarder.refusal is not None:
        raise forwarder.refusal
    if proc is None:
        raise ModelError(f"the sealed validator did not answer within {timeout_s:.0f}s")
    try:  # parsed here, once: every reader after this gets the types
        answer = ValidatorRun.model_validate_json(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValidationError) as exc:
        if not broker.browsing:  # nothing of the app or the change had reached it
            raise not_started(proc) from exc
        tail = redact(proc.stderr.strip())[-400:] or str(exc).splitlines()[0]
        raise ModelError(f"the sealed validator crashed (exit {proc.returncode}): {tail}") from exc
    if answer.error == SandboxError.__name__:  # a socket's listener was not the harness
        raise SandboxError(str(answer.message))
    asked = request.question.criteria  # what its verdict's ids stand for, for a person
    return answer.evolve(refused=list(peers.refused), criteria=asked)


def main() -> None:
    from harness.browser.chromium import BrowserSession
    from harness.browser.relay import relay_script
    from harness.browser.tools import BrowserTools
    from harness.model.agent import AgentLoop
    from harness.validate.forward import SocketModel

    if not (given := sys.stdin.read()):  # ``factory doctor``'s probe: imported, nothing asked
        return
    request = SealRequest.model_validate_json(given)
    asked = request.question
    answer: dict[str, Any]
    secrets: set[str] = set()  # what the validator typed or sent that is one: masked
    tools: BrowserTools
    try:
        relay = relay_script(
            Path(tempfile.gettempdir()), request.browser_socket, request.harness_uid
        )
        spec = _agent(request, lambda output: _judged(asked.criteria, tools.observed, output))
        handlers: dict[str, Handler] = {}  # the browser's tools, once it has started
        model = SocketModel(Path(request.model_socket), request.harness_uid)
        agent = AgentLoop(model, spec, handlers, AgentHooks())  # checked by the harness
        if request.replay is None:
            agent.ask_ahead()  # with the model while the browser starts
        with BrowserSession(launcher=str(relay)) as session:
            tools = BrowserTools(  # it shares the app's network: its requests reach it
                session,
                request.app_url,
                Path(request.shots_dir),
                True,
                [v.pattern() for v in request.definition.addressing.values()],
                request.definition.secret_names,
            )
            secrets = tools.secrets
            try:
                try:  # the validator's brief says the app is open at its home page
                    tools.open_home()
                except ToolError as exc:
                    raise FactoryError(f"the app's home page did not open: {exc}") from exc
                # only the tools its definition gives it: one dropped there is not callable
                every = tools.handlers()  # a replay's: each was given when it was recorded
                handlers.update({n: h for n, h in every.items() if n in spec.tools})
                for record in request.replay or []:
                    with contextlib.suppress(ToolError):  # recorded as an error, like any answer
                        every[record.tool](dict(record.input))
                result = agent.run() if request.replay is None else None
            finally:
                tools.close()
        answer = {
            "observed": [dataclasses.asdict(o) for o in tools.observed],
            "shots": tools.shots,
            "blocked": tools.guard.blocked,
        }
        if result is not None:
            answer |= {"output": result.output, "messages": result.messages}
            answer |= {"sent_back": result.sent_back}
    except FactoryError as exc:
        answer = {"error": type(exc).__name__, "message": str(exc)}
    print(redact(json.dumps(masked(answer, secrets))))


def _agent(request: SealRequest, review: Callable[[dict[str, object]], str | None]) -> AgentSpec:
    """The validator's agent as its definition and question make it, its verdict checked by
    ``review`` (sent back once, saying what it lacks)."""
    asked, definition = request.question, request.definition
    return AgentSpec(
        role="validator",
        model=asked.model,
        governance=list(asked.governance),
        instructions=request.instructions,
        task=asked.task,
        tools=list(definition.tools),
        output_tool=definition.output,
        max_turns=definition.max_turns,
        max_tokens=definition.max_tokens,
        thinking=asked.thinking,
        effort=asked.effort,
        review=review,
    )


def _judged(
    criteria: list[str], observed: list[Observation], output: dict[str, object]
) -> str | None:
    """What a verdict lacks to rest on evidence (``harness.validate.route.unsupported``), as
    the validator is told it when it is sent back, once; None: nothing."""
    from harness.model.tools import message
    from harness.validate.route import unsupported

    problems = unsupported(Verdict.model_validate(output), criteria, observed)
    return message("unsupported_verdict", problems="; ".join(problems)) if problems else None


if __name__ == "__main__":
    main()
