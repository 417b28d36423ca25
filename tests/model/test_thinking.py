"""Today's models through the real SDK against the stand-in: thinking blocks echoed as they
came, thinking and effort in the request, each stop reason's outcome, forced tool_choice
refused where the API refuses it, and images inside tool results."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from harness.errors import ConfigError, ModelError
from harness.model import agent as agent_module
from harness.model.agent import AgentSpec, run_agent
from harness.model.anthropic_model import AnthropicModel
from harness.model.blocks import Image, ToolOutput, assistant_blocks
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import Action, Rule, ScriptedModel
from tests.model.test_model_layer import GOV, Hooks
from tests.standins.anthropic_standin import AnthropicStandIn

# a 1x1 PNG
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def rules() -> list[Rule]:
    return [
        Rule(
            output="submit_plan",
            match="Issue think",
            turns=[
                [
                    Action(thinking="Read app.py first."),
                    Action(redacted_thinking="opaque"),
                    Action(tool="read_file", input={"path": "app.py"}),
                ],
                [
                    Action(thinking="Now the plan."),
                    Action(text="Planning."),
                    Action(tool="submit_plan", input={"plan": "Edit app.py", "files": []}),
                ],
            ],
        ),
        Rule(
            output="submit_plan",
            match="Issue pause",
            turns=[
                [Action(thinking="Long work.", stop_reason="pause_turn")],
                [Action(thinking="Read it.", tool="read_file", input={"path": "app.py"})],
                [Action(tool="submit_plan", input={"plan": "Resumed", "files": []})],
            ],
        ),
        Rule(
            output="submit_plan",
            match="Issue cut",
            turns=[
                [Action(tool="read_file", input={"path": "a"}, stop_reason="max_tokens")],
                [Action(text="Still too long", stop_reason="max_tokens")],
                [Action(tool="submit_plan", input={"plan": "Short", "files": []})],
            ],
        ),
        Rule(
            output="submit_plan",
            match="Issue endless",
            turns=[[Action(text="Too long", stop_reason="max_tokens")]],
        ),
        Rule(output="submit_plan", match="Issue refuse", turns=[[Action(stop_reason="refusal")]]),
        Rule(
            output="submit_plan",
            match="Issue full",
            turns=[[Action(text="…", stop_reason="model_context_window_exceeded")]],
        ),
        Rule(
            output="submit_verdict",
            turns=[
                [Action(thinking="Look.", tool="browser_take_screenshot")],
                [
                    Action(
                        tool="submit_verdict",
                        input={
                            "verdict": "pass",
                            "score": 1,
                            "criteria": [],
                            "regressions": [],
                            "summary": "ok",
                        },
                    )
                ],
            ],
        ),
    ]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(responder=ScriptedModel(rules())) as s:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-thinking")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.url)
        yield s


def plan(issue: str, **kw: Any) -> AgentSpec:
    return AgentSpec(
        "planner", "claude-sonnet-5-5", GOV, "Plan.", issue, ["read_file"], "submit_plan", 6, **kw
    )


def real() -> AnthropicModel:
    return AnthropicModel(RetryPolicy(max_retries=0), sleep=lambda s: None)


FILES = {"read_file": lambda d: "print('hi')"}


def test_a_tool_loop_with_thinking_passes_the_standins_rule(server) -> None:
    hooks = Hooks()
    result = run_agent(real(), plan("Issue think", thinking="adaptive", effort="low"), FILES, hooks)
    assert result.output == {"plan": "Edit app.py", "files": []}
    assert server.violations == []
    second = server.received[1][1]
    assert second["thinking"] == {"type": "adaptive"}
    assert second["output_config"] == {"effort": "low"}
    echoed = second["messages"][1]["content"]
    assert [b["type"] for b in echoed] == ["thinking", "redacted_thinking", "tool_use"]
    assert echoed[0]["thinking"] == "Read app.py first."
    assert echoed[0]["signature"].startswith("sig_") and echoed[1]["data"].startswith("sig_")


def test_dropping_a_thinking_block_is_the_apis_400(server, monkeypatch) -> None:
    def drop(response: dict[str, Any]) -> list[dict[str, Any]]:
        return [b for b in assistant_blocks(response) if b["type"] != "redacted_thinking"]

    monkeypatch.setattr(agent_module, "assistant_blocks", drop)
    with pytest.raises(ModelError, match="Expected `thinking` or `redacted_thinking`"):
        run_agent(real(), plan("Issue think"), FILES, Hooks())


def test_a_changed_block_or_prefix_invalidates_the_signature(server) -> None:
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    tools = [{"name": "read_file", "description": "r", "input_schema": {"type": "object"}}]
    tools.append({"name": "submit_plan", "description": "p", "input_schema": {"type": "object"}})
    first = [{"role": "user", "content": "Issue think"}]
    answer = client.messages.create(
        model="claude-sonnet-5-5", max_tokens=100, tools=tools, messages=first
    )
    turn = answer.model_dump(mode="json", exclude_none=True)["content"]
    use = next(b for b in turn if b["type"] == "tool_use")
    result = {"type": "tool_result", "tool_use_id": use["id"], "content": "x"}

    def send(user: str, blocks: list[dict[str, Any]]) -> None:
        client.messages.create(
            model="claude-sonnet-5-5",
            max_tokens=100,
            tools=tools,
            messages=[
                {"role": "user", "content": user},
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": [result]},
            ],
        )

    send("Issue think", turn)  # unchanged: accepted
    edited = [{**turn[0], "thinking": "Something else."}, *turn[1:]]
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking`"):
        send("Issue think", edited)
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        send("Issue think, reworded", turn)


def test_pause_turn_resumes_the_same_turn(server) -> None:
    result = run_agent(real(), plan("Issue pause"), FILES, Hooks())
    assert result.output["plan"] == "Resumed" and server.violations == []
    resumed = server.received[1][1]["messages"]
    assert resumed[-1]["role"] == "assistant" and resumed[-1]["content"][0]["type"] == "thinking"
    # the continuation joined the paused turn: one assistant message, both thoughts in order
    merged = server.received[2][1]["messages"][1]["content"]
    kinds = [b["type"] for b in merged if b["type"] != "text"]
    assert kinds == ["thinking", "thinking", "tool_use"] and result.turns == 3


def test_max_tokens_runs_nothing_then_continues_or_fails(server) -> None:
    ran: list[dict[str, Any]] = []
    handlers = {"read_file": lambda d: ran.append(d) or "x"}
    result = run_agent(real(), plan("Issue cut"), handlers, Hooks())
    assert result.output["plan"] == "Short" and ran == [] and server.violations == []
    note = server.received[1][1]["messages"][-1]["content"][0]
    assert note["is_error"] and "cut at the output limit of 4096 tokens" in note["content"]
    with pytest.raises(ModelError, match="3 turns in a row were cut at max_tokens"):
        run_agent(real(), plan("Issue endless"), FILES, Hooks())


def test_refusal_and_a_full_context_window_fail_the_step(server) -> None:
    with pytest.raises(ModelError, match="refused to continue at turn 1"):
        run_agent(real(), plan("Issue refuse"), FILES, Hooks())
    with pytest.raises(ModelError, match="filled claude-sonnet-5-5's context window"):
        run_agent(real(), plan("Issue full"), FILES, Hooks())


def test_thinking_off_follows_the_model(server) -> None:
    run_agent(real(), plan("Issue think", thinking="off"), FILES, Hooks())
    assert server.received[0][1]["thinking"] == {"type": "between_tools"}
    opus = AgentSpec("reviewer", "claude-opus-5-5", GOV, "R", "Issue think", [], "submit_plan", 2)
    with pytest.raises(ConfigError, match="claude-opus-5-5 cannot turn thinking off"):
        run_agent(real(), AgentSpec(**{**opus.__dict__, "thinking": "off"}), FILES, Hooks())


@pytest.mark.parametrize(
    ("model", "extra", "refused"),
    [
        ("claude-opus-5-5", {}, "forcing tool use"),
        ("claude-sonnet-5-5", {}, "forcing tool use"),
        ("claude-haiku-5-5", {"thinking": {"type": "adaptive"}}, "Thinking may not be enabled"),
        ("claude-haiku-5-5", {}, None),
        ("claude-opus-5-5", {"thinking": {"type": "disabled"}}, "thinking.type.disabled"),
        ("claude-haiku-4-5", {"output_config": {"effort": "low"}}, "effort"),
    ],
)
def test_forced_tool_choice_and_thinking_modes_as_the_api_takes_them(
    server, model: str, extra: dict[str, Any], refused: str | None
) -> None:
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    tool = {"name": "submit_plan", "description": "p", "input_schema": {"type": "object"}}
    choice = {} if "output_config" in extra or "disabled" in json.dumps(extra) else {"type": "any"}
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 50,
        "tools": [tool],
        "messages": [{"role": "user", "content": "Issue x"}],
        **({"tool_choice": choice} if choice else {}),
    }
    if refused is None:
        client.messages.create(**kwargs, extra_body=extra)
        return
    with pytest.raises(anthropic.BadRequestError, match=refused):
        client.messages.create(**kwargs, extra_body=extra)


def test_an_image_goes_back_inside_the_tool_result(server) -> None:
    shot = ToolOutput("saved validator-01.png", (Image("image/png", PIXEL),))
    spec = AgentSpec(
        "validator",
        "claude-sonnet-5-5",
        GOV,
        "V",
        "Check",
        ["browser_take_screenshot"],
        "submit_verdict",
        4,
    )
    result = run_agent(real(), spec, {"browser_take_screenshot": lambda d: shot}, Hooks())
    assert result.output["verdict"] == "pass" and server.violations == []
    sent = server.received[1][1]["messages"][-1]["content"][0]["content"]
    assert sent[0] == {"type": "text", "text": "saved validator-01.png"}
    assert sent[1]["source"]["data"] == PIXEL
    kept = json.dumps(result.messages)
    assert PIXEL not in kept and "base64 characters left out" in kept


def test_a_thinking_loop_recorded_replays_offline(server, tmp_path) -> None:
    first = run_agent(RecordingModel(real(), tmp_path), plan("Issue think"), FILES, Hooks())
    again = run_agent(ReplayModel(tmp_path), plan("Issue think"), FILES, Hooks())
    assert again.output == first.output and again.messages == first.messages
