"""The limiter reads ``anthropic-ratelimit-*`` headers: parallel callers wait for the window
instead of collecting 429s."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.model.anthropic_model import AnthropicModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import Action, Rule, ScriptedModel
from tests.standins.anthropic_standin import AnthropicStandIn

REQUEST = {
    "model": "claude-haiku-5-5",
    "max_tokens": 50,
    "tools": [{"name": "finish", "description": "d", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": "go"}],
}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_eight_parallel_callers_stay_under_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [Rule(output="finish", turns=[[Action(tool="finish", input={})]])]
    with AnthropicStandIn(ScriptedModel(rules), latency_s=0.05, rpm_limit=6, window_s=1.5) as s:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.url)
        model = AnthropicModel(RetryPolicy(max_retries=5, max_wait_s=30))

        def worker(_: int) -> str:
            return str(model.create(REQUEST)["stop_reason"])

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(worker, range(20)))
    assert results == ["tool_use"] * 20
    # at most one 429 in 20 calls at six a window (four windows, eight callers): it learnt the
    # window at once, and waited for the next instead
    assert s.rate_limited <= 1


def test_an_answer_that_arrives_after_a_newer_one_does_not_raise_the_count() -> None:
    """Two answers of one window (the same reset) arrive out of order: the older one's higher
    ``remaining`` is already spent, so the limiter keeps the lower; a new window's is taken."""
    from harness.model.ratelimit import RateLimiter

    def headers(remaining: int, reset: str) -> dict[str, str]:
        return {
            "anthropic-ratelimit-requests-remaining": str(remaining),
            "anthropic-ratelimit-requests-reset": reset,
        }

    limiter = RateLimiter()
    window, later = "2099-01-01T00:00:03Z", "2099-01-01T00:00:04Z"
    limiter.acquire()  # the probe: the window is not known yet
    limiter.release(headers(5, window))
    for _ in range(2):  # two calls in flight, five left
        limiter.acquire()
    limiter.release(headers(1, window))  # the newer answer: one left
    limiter.release(headers(4, window))  # the older one, late: four were left when it was made
    assert limiter.remaining == 1
    limiter.acquire()
    limiter.release(headers(3, later))  # the window moved on: its count is taken as it is
    assert limiter.remaining == 3
