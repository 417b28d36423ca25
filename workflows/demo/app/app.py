"""Notes: a tiny web app that keeps a list of notes (standard library only)."""

import argparse
import html
import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

DATA = Path("notes.json")
TOKENS = set()  # API tokens made on /settings, kept while the app runs


def load_notes():
    if DATA.exists():
        return json.loads(DATA.read_text())
    return []


def save_notes(notes):
    DATA.write_text(json.dumps(notes))


def add_note(notes, text):
    text = text.strip(" ")
    if not text:
        raise ValueError("a note cannot be empty")
    return [*notes, text]


def render(notes):
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!doctype html><html><head><title>Notes</title></head><body>"
        "<h1>Notes</h1>"
        '<form method="post" action="/notes">'
        '<label for="note">Note</label> <input id="note" name="note">'
        ' <button type="submit">Add</button></form>'
        f'<ul id="notes">{items}</ul>'
        "</body></html>"
    )


def render_settings(token=None):
    shown = f'<p>Your new API token: <code id="token">{token}</code></p>' if token else ""
    return (
        "<!doctype html><html><head><title>Settings</title></head><body>"
        "<h1>Settings</h1>"
        '<form method="post" action="/settings/token">'
        '<button type="submit">Create API token</button></form>'
        f"{shown}</body></html>"
    )


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body, kind="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if code == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/", "/notes"):
            self._send(200, render(load_notes()))
        elif self.path == "/settings":
            self._send(200, render_settings())
        elif self.path == "/api/notes":
            self.api_notes()
        else:
            self._send(404, "not found")

    def api_notes(self):
        """The notes as JSON, for a client holding a token: Authorization: Bearer <token>."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in TOKENS:
            self._send(401, json.dumps({"error": "a bearer token is required"}), "application/json")
            return
        self._send(200, json.dumps(load_notes()), "application/json")

    def do_POST(self):
        if self.path == "/settings/token":
            token = secrets.token_hex(16)
            TOKENS.add(token)
            self._send(200, render_settings(token))
            return
        length = int(self.headers.get("Content-Length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        try:
            notes = add_note(load_notes(), form.get("note", [""])[0])
        except ValueError as exc:
            self._send(400, html.escape(str(exc)))
            return
        save_notes(notes)
        self._send(200, render(notes))

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
