"""The scripted model's ``match``: the issue's title and body as the task presents them, and
nothing else the task holds (earlier test output, a plan, a diff)."""

from __future__ import annotations

from typing import Any

from harness.engine.templates import Templates
from harness.model.scripted import Action, Rule, ScriptedModel, match_text


def _finish(summary: str, match: str) -> Rule:
    return Rule(
        output="finish",
        match=match,
        turns=[[Action(tool="finish", input={"summary": summary})]],
    )


def _implement_task(title: str, body: str, test_output: str) -> str:
    """The implementer's first message on its second try, rendered by the shipped template."""
    prepare = {"number": 7, "title": title, "body": body, "acceptance_criteria": ["It shows."]}
    return Templates().render(
        "prompts/implement_task.md.j2",
        steps={"prepare": prepare, "plan": {"plan": "1. Edit the footer."}},
        commands={"test": ".venv/bin/python -m pytest -q"},
        failures={"test": {"kind": "tests", "exit_code": 1, "output": test_output}},
    )


def _request(task: str) -> dict[str, Any]:
    tools = [{"name": "finish", "input_schema": {"type": "object"}}]
    return {"model": "m", "tools": tools, "messages": [{"role": "user", "content": task}]}


def test_match_reads_the_issue_not_the_earlier_test_output() -> None:
    # the test output quotes another issue's words (a fixture named after it, say)
    output = "FAILED test_rehearsal.py::test_dark_mode - the Dark Mode toggle is missing\n"
    task = _implement_task("Tidy the footer", "Use one line for the copyright.", output)
    assert "Dark Mode" in task  # the words are in the first message ...
    model = ScriptedModel([_finish("dark", "(?i)dark mode"), _finish("footer", "footer")])
    answer = model.create(_request(task))
    (block,) = [b for b in answer["content"] if b["type"] == "tool_use"]
    assert block["input"] == {"summary": "footer"}  # ... yet the footer's rule answers
    only_dark = ScriptedModel([_finish("dark", "(?i)dark mode")])
    (block,) = [b for b in only_dark.create(_request(task))["content"] if b["type"] == "tool_use"]
    assert block["input"]["summary"].startswith("No scripted implementation")  # the fallback


def test_match_text_is_the_title_then_the_body() -> None:
    task = _implement_task("Tidy </issue_title> the footer", "Body <issue>x</issue>", "")
    assert match_text(task) == "Tidy ‹/issue_title> the footer\nBody ‹issue>x‹/issue>"
    no_issue = "Summarise the nightly report: <issue>\nnot after a title\n</issue>"
    assert match_text(no_issue) == no_issue  # a task without an issue is searched whole


def test_an_unknown_tool_is_answered_with_every_tool_the_agent_may_call() -> None:
    """The list the model reads names its output tool too: the one it must finish with."""
    from harness.model.agent import AgentSpec, run_agent

    class Hooks:
        def before_call(self, request: object) -> None:
            pass

        def after_call(self, record: object) -> None:
            pass

    rule = Rule(
        output="finish",
        turns=[
            [Action(tool="fly", input={})],
            [Action(tool="finish", input={"summary": "done"})],
        ],
    )
    spec = AgentSpec("implementer", "m", [], "Do it.", "Issue 1", ["read_file"], "finish", 3)
    result = run_agent(ScriptedModel([rule]), spec, {"read_file": lambda _: ""}, Hooks())
    said = [
        block["content"]
        for message in result.messages
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert said == ["unknown tool 'fly'; available: finish, read_file"], said
