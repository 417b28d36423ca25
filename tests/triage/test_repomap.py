"""The map of the repository triage is shown: bounded whatever the repository holds, read
from git's objects at one commit, with the routes and templates that can be listed cheaply."""

from __future__ import annotations

from pathlib import Path

from harness.git.repo import GitRepo
from harness.triage.repomap import map_rules, repository_map
from tests.factory_repo import git


def _repo(tmp_path: Path, files: dict[str, str | bytes]) -> tuple[GitRepo, str]:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    git(root, "add", "-A")
    git(root, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "files")
    repo = GitRepo(root)
    return repo, repo.rev_parse("main") or ""


def test_routes_and_templates_of_common_frameworks(tmp_path: Path) -> None:
    repo, commit = _repo(
        tmp_path,
        {
            "shop/urls.py": "urlpatterns = [path('cart/', v.cart), re_path(r'^api/$', v.api)]\n",
            "api.py": "@app.get('/items/{id}')\ndef item(id): ...\n@bp.route('/login')\n",
            "server.js": "router.post('/notes', add);\napp.get(`/feed.xml`, feed);\n",
            "web.py": "if self.path in ('/', '/about'):\n    pass\n",
            "shop/templates/shop/cart.html": "<html></html>\n",
            "views/index.ejs": "<p></p>\n",
            "README.md": "@app.get('/not-code') is only read in code files\n",
        },
    )
    text = repository_map(repo, commit, map_rules()[0])
    assert text.startswith("The production branch holds 7 files.")
    assert "shop/urls.py: cart/, api/" in text
    assert "api.py: /items/{id}, /login" in text
    assert "server.js: /notes, /feed.xml" in text
    assert "web.py: /, /about" in text and "/not-code" not in text
    assert "Templates:\n  shop/templates/shop/cart.html, views/index.ejs" in text


def test_a_route_is_shown_with_the_prefix_its_blueprint_or_router_gives_it(
    tmp_path: Path,
) -> None:
    """The path a person opens: ``/auth/login`` for a Flask blueprint's ``/login`` made with
    ``url_prefix="/auth"``, ``/api/items/{id}`` for a FastAPI router's; each file's own."""
    repo, commit = _repo(
        tmp_path,
        {
            "todo/auth.py": (
                "bp = Blueprint('auth', __name__, url_prefix='/auth/')\n"
                "@bp.route('/login', methods=['GET', 'POST'])\ndef login(): ...\n"
            ),
            "todo/api.py": (
                'router = fastapi.APIRouter(tags=["items"], prefix="/api")\n'
                "@router.get('/items/{id}')\ndef item(id): ...\n"
            ),
            "todo/views.py": "bp = Blueprint('views', __name__)\n@bp.route('/')\ndef home(): ...\n",
        },
    )
    text = repository_map(repo, commit, map_rules()[0])
    assert "todo/auth.py: /auth/login" in text, text
    assert "todo/api.py: /api/items/{id}\n" in text, text
    assert "todo/views.py: /" in text, text


def test_the_map_stays_bounded_on_a_large_repository(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"pkg{i % 7}/sub{i % 13}/module_{i}.py": f"X = {i}\n" for i in range(3000)
    }
    files["app.py"] = "@app.route('/" + "x" * 600 + "')\n"  # one route, far too long
    files["blob.py"] = b"\0" * 10 + b"@app.route('/binary')"  # not text: not read
    files["big.py"] = "@app.route('/too-big')\n" + "#" * 300_000  # larger than any file read
    repo, commit = _repo(tmp_path, files)
    rules = map_rules()[0]
    text = repository_map(repo, commit, rules)
    assert len(text) <= rules.max_chars
    assert text.startswith("The production branch holds 3,003 files.")
    assert "pkg0/ (429 files): sub0/ (" in text  # folders summarised, with their counts
    assert "module_2999.py" not in text  # not every name: they do not fit
    assert "/too-big" not in text and "/binary" not in text
    (route,) = [line for line in text.splitlines() if line.startswith("  app.py: /")]
    assert len(route) < 260  # a route is cut at 200 characters
