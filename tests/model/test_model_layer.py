"""The model layer through the real SDK against the stand-in: retries, deferral, quota, the
agent loop, record/replay, caching and pricing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import DeferredError, ModelError, QuotaError, ToolError
from harness.model.agent import AgentSpec, run_agent
from harness.model.anthropic_model import AnthropicModel
from harness.model.base import CallRecord, Usage
from harness.model.pricing import cost_usd
from harness.model.prompt import with_moving_breakpoint
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy, server_wait
from harness.model.scripted import Action, Rule, ScriptedModel
from tests.standins.anthropic_standin import AnthropicStandIn

KEY = "sk-ant-model-layer-CANARY-0123456789"
GOV = [
    ("mission.md", "# Mission\nNotes app."),
    ("factory_rules.md", "---\n---\nRules."),
    ("CLAUDE.md", "Ctx."),
]


def plan_rules() -> list[Rule]:
    return [
        Rule(
            output="submit_plan",
            turns=[
                [Action(tool="read_file", input={"path": "app.py"})],
                [
                    Action(tool="submit_plan", input={"plan": "", "files": []})
                ],  # invalid: empty plan
                [Action(tool="submit_plan", input={"plan": "Change app.py", "files": ["app.py"]})],
            ],
        ),
        Rule(output="finish", turns=[[Action(text="I am thinking.")]]),
    ]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(responder=ScriptedModel(plan_rules())) as s:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.url)
        yield s


def model(**kw: Any) -> tuple[AnthropicModel, list[float]]:
    slept: list[float] = []
    m = AnthropicModel(RetryPolicy(**kw), sleep=slept.append)
    return m, slept


def request() -> dict[str, Any]:
    return {
        "model": "claude-haiku-5-5",
        "max_tokens": 200,
        "tools": [{"name": "finish", "description": "d", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "go"}],
    }


class Hooks:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self.requests: list[dict[str, Any]] = []

    def before_call(self, req: dict[str, Any]) -> None:
        self.requests.append(req)

    def after_call(self, record: CallRecord) -> None:
        self.records.append(record)


def test_429_twice_with_retry_after_zero_then_success(server) -> None:
    server.fail_next(429, {"retry-after": "0"}, times=2)
    m, slept = model(max_retries=3)
    assert m.create(request())["stop_reason"] == "end_turn"
    assert len(server.received) == 3
    assert len(slept) == 2 and all(0 < s <= 8 for s in slept)
    assert slept[0] != slept[1]  # exponential with jitter, not a hot loop


def test_retry_after_beyond_the_cap_defers_without_sleeping(server) -> None:
    server.fail_next(429, {"retry-after": "86400"})
    m, slept = model(max_wait_s=60)
    with pytest.raises(DeferredError) as info:
        m.create(request())
    assert slept == [] and info.value.not_before > 86000
    assert len(server.received) == 1


def test_honoured_retry_after_is_used_when_under_the_cap(server) -> None:
    server.fail_next(529, {"retry-after": "2"}, error_type="overloaded_error")
    m, slept = model()
    m.create(request())
    assert 2.0 <= slept[0] <= 2.2


def test_bursts_end_after_the_retry_budget(server) -> None:
    server.fail_next(529, times=10, error_type="overloaded_error")
    m, slept = model(max_retries=2)
    with pytest.raises(ModelError, match="after 3 tries"):
        m.create(request())
    assert len(server.received) == 3 and len(slept) == 2


def test_x_should_retry_false_is_obeyed(server) -> None:
    server.fail_next(500, {"x-should-retry": "false"})
    m, slept = model()
    with pytest.raises(ModelError):
        m.create(request())
    assert len(server.received) == 1 and slept == []


def test_quota_errors_are_fatal_and_not_retried(server) -> None:
    server.fail_next(400, message="Your credit balance is too low to access the API.")
    m, slept = model()
    with pytest.raises(QuotaError) as info:
        m.create(request())
    assert KEY not in str(info.value)
    assert len(server.received) == 1 and slept == []


def test_server_wait_parsing() -> None:
    assert server_wait({"retry-after": "0"}) is None
    assert server_wait({"Retry-After": "7"}) == 7
    assert server_wait({"retry-after-ms": "250"}) == 0.25
    assert server_wait({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None  # in the past
    assert server_wait({"retry-after": "soon"}) is None


def test_agent_loop_tools_invalid_output_then_valid(server) -> None:
    m, _ = model()
    hooks = Hooks()
    calls: list[dict[str, Any]] = []

    def read_file(data: dict[str, Any]) -> str:
        calls.append(data)
        raise ToolError("app.py: no such file")

    spec = AgentSpec(
        "planner", "claude-sonnet-5-5", GOV, "Plan it.", "Issue 1", ["read_file"], "submit_plan", 5
    )
    result = run_agent(m, spec, {"read_file": read_file}, hooks)
    assert result.output == {"plan": "Change app.py", "files": ["app.py"]}
    assert result.turns == 3 and calls == [{"path": "app.py"}]
    assert server.violations == []
    # the tool error and the schema error went back to the model as is_error tool results
    second = server.received[1][1]["messages"][-1]["content"][0]
    assert second["is_error"] and "no such file" in second["content"]
    third = server.received[2][1]["messages"][-1]["content"][0]
    assert third["is_error"] and "submit_plan" in third["content"]
    # every request starts with the governance block carrying a cache breakpoint
    prefixes = {json.dumps(body["system"][0]) for _, body in server.received}
    assert len(prefixes) == 1 and '"cache_control"' in prefixes.pop()
    # from the second request on, most input comes from the cache
    usage = [r.usage for r in hooks.records]
    assert usage[1].cache_read_input_tokens > 0
    assert all(r.cost_usd > 0 for r in hooks.records)


def test_agent_without_output_runs_out_of_turns(server) -> None:
    m, _ = model()
    spec = AgentSpec("implementer", "claude-sonnet-5-5", GOV, "Do it.", "Issue 2", [], "finish", 3)
    with pytest.raises(ModelError, match="used all 3 turns"):
        run_agent(m, spec, {}, Hooks())
    # it was reminded each time, with valid alternating turns
    assert server.violations == [] and len(server.received) == 3


def test_record_then_replay_offline(server, tmp_path: Path) -> None:
    m, _ = model()
    recorder = RecordingModel(m, tmp_path / "rec")
    spec = AgentSpec(
        "planner", "claude-sonnet-5-5", GOV, "Plan it.", "Issue 1", ["read_file"], "submit_plan", 5
    )
    handlers = {"read_file": lambda d: "print('hi')"}
    first = run_agent(recorder, spec, handlers, Hooks())
    files = list((tmp_path / "rec").glob("*.json"))
    assert len(files) == 3
    for f in files:
        assert KEY not in f.read_text()
    paid_again = Hooks()
    replayed = run_agent(ReplayModel(tmp_path / "rec"), spec, handlers, paid_again)
    assert replayed.output == first.output
    assert [r.cost_usd for r in paid_again.records] == [0.0] * 3  # paid when it was recorded
    other = AgentSpec(
        "planner", "claude-sonnet-5-5", GOV, "Plan it.", "Issue 9", ["read_file"], "submit_plan", 5
    )
    with pytest.raises(ModelError, match="no recording"):
        run_agent(ReplayModel(tmp_path / "rec"), other, handlers, Hooks())


def test_a_scripted_answer_is_priced_as_the_model_it_names_prices_its_tokens() -> None:
    """The scripted model reports the tokens a provider counts (the tools too), and the call
    is priced as the named model prices them: budgets hold offline as online."""
    hooks = Hooks()
    spec = AgentSpec(
        "planner", "claude-sonnet-5-5", GOV, "Plan it.", "Issue 1", ["read_file"], "submit_plan", 5
    )
    run_agent(ScriptedModel(plan_rules()), spec, {"read_file": lambda d: "x = 1"}, hooks)
    first = hooks.records[0]
    assert first.cost_usd > 0
    assert first.cost_usd == pytest.approx(cost_usd("claude-sonnet-5-5", first.usage))
    tools = json.dumps(hooks.requests[0]["tools"])
    assert first.usage.input_tokens > len(tools) // 4  # the tools' definitions are counted


def test_pricing() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_usd("claude-opus-5-5", usage) == pytest.approx(24.0)
    assert cost_usd("claude-sonnet-4-5-20250929", usage) == pytest.approx(18.0)
    assert cost_usd("claude-opus-5-5", usage, batch=True) == pytest.approx(12.0)
    cached = Usage(cache_read_input_tokens=1_000_000, cache_creation_input_tokens=1_000_000)
    assert cost_usd("claude-sonnet-5-5", cached) == pytest.approx(0.2 + 2.5)
    hour = Usage(cache_creation_input_tokens=1_000_000, cache_creation_1h_input_tokens=1_000_000)
    assert cost_usd("claude-sonnet-5-5", hour) == pytest.approx(4.0)
    # Haiku 5.5 prices a prompt above 100,000 tokens at five times its rates
    assert cost_usd("claude-haiku-5-5", Usage(50_000, 1_000_000)) == pytest.approx(0.505)
    assert cost_usd("claude-haiku-5-5", Usage(200_000)) == pytest.approx(0.1)
    assert cost_usd("some-future-model", usage) == cost_usd("claude-opus-4-1", usage) > 0


def test_shipped_model_tables_cover_the_defaults() -> None:
    from harness.config.models import Models
    from harness.model.catalog import accepts, base_id, end_of_life, is_known
    from harness.model.pricing import prices

    assert prices().models  # every entry read into its record
    for role, model in Models().model_dump(exclude={"escalate"}).items():
        assert is_known(model) and end_of_life(model) is None, role
        listed = prices().models.keys() & {model, base_id(model)}
        assert listed, f"{role}: {model} has no price"
        assert accepts(model).effort
    assert end_of_life("claude-sonnet-4-5-20250929") is not None
    assert not is_known("claude-sonet-5-5")


def test_one_hour_cache_writes_are_reported_and_priced_apart(server) -> None:
    m, _ = model()
    req = request()
    req["system"] = [
        {"type": "text", "text": "x" * 4000, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "y" * 400, "cache_control": {"type": "ephemeral"}},
    ]
    usage = Usage.from_response(m.create(req))
    assert 0 < usage.cache_creation_1h_input_tokens < usage.cache_creation_input_tokens
    five = Usage(cache_creation_input_tokens=usage.cache_creation_input_tokens)
    assert cost_usd("claude-haiku-5-5", usage) > cost_usd("claude-haiku-5-5", five)


def test_the_moving_breakpoint_marks_the_newest_turn_alone_and_leaves_the_history_as_it_was() -> (
    None
):
    mark = {"type": "ephemeral"}
    history: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "task", "cache_control": mark}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "reading"},
                {"type": "tool_use", "id": "t1", "name": "read_file", "input": {"path": "a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "a", "cache_control": mark}
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "done"},
                {"type": "thinking", "thinking": "…", "signature": "s"},
            ],
        },
    ]
    before = json.dumps(history)
    sent = with_moving_breakpoint(history)
    marked = [
        (i, j)
        for i, m in enumerate(sent)
        for j, b in enumerate(m["content"])
        if "cache_control" in b
    ]
    assert marked == [(3, 0)]  # the last block that can carry one: not the thinking block
    assert json.dumps(history) == before  # the conversation kept is not changed
    assert [m["content"][0]["text"] for m in (sent[0], sent[3])] == ["task", "done"]
