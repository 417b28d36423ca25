"""``factory backtest``: rehearsing the factory on work already done (docs/backtest.md).

Each case (an issue, and its fix's parent ``base`` and ``fix``) is rebuilt at ``base`` in a
scratch repository that holds nothing after it, with production's governance committed on
top, a scratch state and a local forge; there the real workflows run as ``factory run`` does,
validation stops at its route and never merges, and the implemented tree is graded with the
fix's hidden tests. The factory's own forge, runs and production branch are never written.

- ``cases``: where cases come from (the production branch's ``Fixes #N`` commits, or a
  manifest) and which of a fix's files are its hidden tests;
- ``scratch``: the scratch repository, state, settings and forge of one case;
- ``rehearse``: one case through triage, implement and validate, and what became of it;
- ``grade``: the implemented tree with the hidden tests, in the sandbox;
- ``report``: the rows, the summary and the comparison with the last backtest;
- ``runner``: the whole backtest: cases in parallel, resumed after a kill, within budgets
  and the kill switch."""
