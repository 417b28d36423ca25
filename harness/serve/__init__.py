"""``factory serve``: the operator's window onto the factory (a local, token-protected web app)."""
