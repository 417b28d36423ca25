"""Which files of a fix are its hidden tests, by default: a Django-style app keeps its tests
(and their helpers and fixtures) in a folder inside the package, not at the top."""

from __future__ import annotations

from pathlib import Path

from harness.backtest.runner import Request, collect
from harness.services import open_services
from tests.factory_repo import git, make_factory_repo, write_files


def test_a_fix_hides_its_tests_helpers_and_fixtures_wherever_the_tests_folder_is(
    tmp_path: Path,
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD").strip()
    changed = {
        "shop/views.py": "def page():\n    return 'ok'\n",  # the fix's code
        "shop/templates/shop/cart.html": "<a>cart</a>\n",  # code too
        "shop/tests/helpers.py": "def make_cart():\n    return []\n",
        "shop/tests/test_cart.py": "def test_cart():\n    assert True\n",
        "shop/tests/fixtures/cart.html": "<html></html>\n",
        "conftest.py": "",
        "web/src/cart.spec.ts": "it('adds', () => {});\n",
        "test_top.py": "def test_top():\n    assert True\n",
    }
    write_files(repo, changed)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fix the cart")
    fix = git(repo, "rev-parse", "HEAD").strip()
    manifest = tmp_path / "cases.yaml"
    manifest.write_text(f"cases: [{{id: cart, title: 'The cart', base: {base}, fix: {fix}}}]\n")

    services = open_services(repo, tmp_path / "state")
    try:
        (case,), _, _ = collect(services, Request(manifest=manifest))
    finally:
        services.store.close()

    assert sorted(case.tests) == sorted(
        p for p in changed if p not in ("shop/views.py", "shop/templates/shop/cart.html")
    )
