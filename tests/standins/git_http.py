"""Serving a bare repository over git's smart HTTP protocol (``git http-backend`` as CGI).

The stand-in GitHub server's git: pushes and fetches in tests go over HTTP with Basic
authentication, exactly as they do against GitHub (git run by the harness's own
``run_git``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.git.env import run_git


@dataclass(frozen=True)
class CgiReply:
    status: int
    headers: dict[str, str]
    body: bytes


def http_backend(
    project_root: Path,
    method: str,
    path_info: str,
    query: str,
    body: bytes,
    content_type: str = "",
    content_encoding: str = "",
    remote_user: str = "",
) -> CgiReply:
    """Answer one smart-HTTP request for a repository under ``project_root``."""
    env = {
        "HOME": str(project_root),
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if content_encoding:
        env["HTTP_CONTENT_ENCODING"] = content_encoding
    if remote_user:
        env["REMOTE_USER"] = remote_user  # enables receive-pack (pushes)
    _, raw, err = run_git(["http-backend"], project_root, env, body)
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, payload = raw.partition(separator)
        if found:
            break
    else:
        return CgiReply(500, {"Content-Type": "text/plain"}, err[-2000:].encode())
    status, headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return CgiReply(status, headers, payload)
