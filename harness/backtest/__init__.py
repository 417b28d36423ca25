"""``factory backtest``: rehearsing the factory on work already done.

Each case — an issue and the two commits of its fix (``base``, the parent, and ``fix``) — is
rebuilt at ``base`` in a scratch place of its own: a new repository holding ``base`` and
nothing after it (so neither the fix nor its tests can be found there), with the
governance of production (or of ``--governance REV``) committed on top, a scratch state and
a local forge holding only that case's issue. There the real ``triage``, ``implement`` and
``validate`` workflows run through the same engine, agents, sandbox, seal and gates as
``factory run``; validation stops at its route and never merges. The implemented tree is
then graded with the fix's hidden tests. The factory's own forge, state runs and production
branch are never written: only the results are kept, in the state's backtest tables.

- ``cases``: where cases come from (the production branch's ``Fixes #N`` commits, or a
  manifest) and which of a fix's files are its hidden tests;
- ``scratch``: the scratch repository, state, settings and forge of one case;
- ``rehearse``: one case through triage, implement and validate, and what became of it;
- ``grade``: the implemented tree with the hidden tests, in the sandbox;
- ``report``: the rows, the summary and the comparison with the last backtest;
- ``runner``: the whole backtest: cases in parallel, resumed after a kill, within budgets
  and the kill switch."""
