"""``factory backtest``: rehearsing the factory on work already done (docs/backtest.md; its
modules: docs/architecture.md). The factory's own forge, runs and production branch are never
written."""
