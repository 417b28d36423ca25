"""The sandbox: bubblewrap around every command an agent or a change can run."""
