"""The stand-in Messages API refuses what the real API refuses, through the real SDK."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from harness.model.anthropic_model import AnthropicModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import Action, Rule, ScriptedModel
from tests.standins.anthropic_standin import AnthropicStandIn

TOOL = {
    "name": "finish",
    "description": "done",
    "input_schema": {"type": "object", "properties": {}},
}


@pytest.fixture
def server() -> Iterator[AnthropicStandIn]:
    rules = [Rule(output="finish", turns=[[Action(tool="finish", input={})]])]
    with AnthropicStandIn(responder=ScriptedModel(rules)) as s:
        yield s


@pytest.fixture
def client(server: AnthropicStandIn) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-test", base_url=server.url, max_retries=0)


def good() -> dict[str, Any]:
    return {
        "model": "claude-haiku-5-5",
        "max_tokens": 100,
        "tools": [TOOL],
        "messages": [{"role": "user", "content": "hello"}],
    }


def use_and_result(use_id: str = "toolu_1", result_id: str = "toolu_1") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "hello"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": use_id, "name": "finish", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": result_id, "content": "ok"}],
        },
    ]


BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "first role assistant",
        {"messages": [{"role": "assistant", "content": "hi"}]},
        "first message",
    ),
    (
        "roles do not alternate",
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
        "alternate",
    ),
    (
        "empty text block",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]},
        "non-whitespace",
    ),
    ("empty system text", {"system": [{"type": "text", "text": ""}]}, "non-whitespace"),
    ("bad tool name", {"tools": [{**TOOL, "name": "bad name!"}]}, "pattern"),
    ("duplicate tool names", {"tools": [TOOL, TOOL]}, "unique"),
    ("non-object schema", {"tools": [{**TOOL, "input_schema": {"type": "string"}}]}, "'object'"),
    (
        "tool_result without tool_use",
        {"messages": use_and_result(result_id="toolu_x")},
        "tool_use_id",
    ),
    (
        "tool_use without tool_result",
        {"messages": [*use_and_result()[:2], {"role": "user", "content": "next"}]},
        "without `tool_result`",
    ),
    (
        "five cache breakpoints",
        {
            "system": [
                {"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}}
                for i in range(5)
            ]
        },
        "maximum of 4",
    ),
    ("zero max_tokens", {"max_tokens": 0}, "max_tokens"),
]


@pytest.mark.parametrize(("change", "needle"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_requests_are_400_invalid_request_error(client, server, change, needle) -> None:
    body = {**good(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(**body)
    assert info.value.status_code == 400
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert needle in info.value.body["error"]["message"]
    assert server.violations


def test_valid_loop_succeeds_with_realistic_usage(client, server) -> None:
    body = good()
    body["system"] = [
        {"type": "text", "text": "governance " * 300, "cache_control": {"type": "ephemeral"}}
    ]
    first = client.messages.create(**body)
    assert first.content[0].type == "tool_use" and first.stop_reason == "tool_use"
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    body["messages"] = use_and_result(first.content[0].id, first.content[0].id)
    body["messages"][1]["content"][0]["id"] = first.content[0].id
    second = client.messages.create(**body)
    assert second.usage.cache_read_input_tokens > 0
    assert server.violations == []


def test_missing_key_is_401(server) -> None:
    request = urllib.request.Request(
        server.url + "/v1/messages",
        data=json.dumps(good()).encode(),
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 401
    assert json.loads(info.value.read())["error"]["type"] == "authentication_error"


def test_rate_limit_headers_follow_the_api(client, server) -> None:
    from datetime import datetime

    server.rpm_limit = 5
    seen = []
    for _ in range(2):
        raw = client.messages.with_raw_response.create(**good())
        for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
            assert int(raw.headers[f"anthropic-ratelimit-{kind}-limit"]) > 0
            assert int(raw.headers[f"anthropic-ratelimit-{kind}-remaining"]) >= 0
            reset = raw.headers[f"anthropic-ratelimit-{kind}-reset"]
            assert reset.endswith("Z") and datetime.fromisoformat(reset).tzinfo  # RFC 3339
        assert raw.headers.get("request-id", "").startswith("req_")
        seen.append(int(raw.headers["anthropic-ratelimit-requests-remaining"]))
    assert seen == [4, 3]


def test_rpm_limit_answers_429_with_retry_after(server, client) -> None:
    server.rpm_limit = 2
    client.messages.create(**good())
    client.messages.create(**good())
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(**good())
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_message_batches_follow_the_api_through_the_sdk(client, server) -> None:
    """create → retrieve (in_progress, then ended) → results, as the SDK's own types read them;
    a request the Messages API would refuse comes back as an errored line, not a failed batch."""
    server.batches.delay_s = 0.3
    bad = {**good(), "messages": [{"role": "assistant", "content": "hi"}]}
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "issue-1", "params": good()},
            {"custom_id": "issue-2", "params": bad},
        ]
    )
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 2
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        list(client.messages.batches.results(batch.id))  # not ended: the SDK sees no results_url
    time.sleep(0.35)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.results_url
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (1, 1)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["issue-1"].type == "succeeded"
    assert results["issue-1"].message.content[0].type == "tool_use"
    assert results["issue-2"].type == "errored"
    assert results["issue-2"].error.error.type == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_missing")


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "at least one request"),
        ([{"custom_id": "has space", "params": good()}], "custom_id"),
        (
            [{"custom_id": "same", "params": good()}, {"custom_id": "same", "params": good()}],
            "not unique",
        ),
    ],
)
def test_a_malformed_batch_is_refused_whole(client, server, requests, message) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.batches.create(requests=requests)
    assert server.batches.batches == {}


def test_a_kept_batch_the_api_no_longer_knows_is_sent_anew(
    server: AnthropicStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch id kept before a kill whose batch is gone (expired, deleted) does not hold its
    requests for ever: they are sent as a new batch, whose id is kept in its place."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    sent = tmp_path / "sent"
    sent.write_text("msgbatch_gone", "utf-8")
    model = AnthropicModel(RetryPolicy(max_retries=0), sleep=lambda s: None)
    answers = model.run_batch({"a" * 64: good()}, 60, sent)
    assert list(answers) == ["a" * 64] and len(server.received_batches) == 1
    assert sent.read_text("utf-8").startswith("msgbatch_") and sent.read_text() != "msgbatch_gone"
