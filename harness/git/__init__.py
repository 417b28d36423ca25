"""Every git operation of the harness: no other module runs git (see ``env`` for how)."""
