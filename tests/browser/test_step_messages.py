"""A journey step that fails in Playwright names the element it looked for."""

from __future__ import annotations

from harness.browser.journeys import Step
from harness.browser.runner import _playwright_failure, describe


def test_a_timed_out_click_names_its_element() -> None:
    step = Step.model_validate({"click": {"role": "button", "name": "Add"}})
    assert describe(step) == "click {role: button, name: Add}"
    said = _playwright_failure(step, TimeoutError("Locator.click: Timeout 10000ms exceeded.\nx"))
    assert said.startswith("no element matching click {role: button, name: Add} was usable")
    assert "\n" not in said
    assert describe(Step.model_validate({"goto": "/notes"})) == "goto /notes"
