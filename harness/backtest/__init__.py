"""``factory backtest``: rehearsing the factory on work already done (docs/backtest.md; its
modules: docs/architecture.md).

Each case is rebuilt at its fix's parent in a scratch place that holds nothing after it; the
real workflows run there as ``factory run`` does, validation never merges, and the result is
graded with the fix's hidden tests. The factory's own forge, runs and production branch are
never written."""
