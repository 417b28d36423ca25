"""What a person is shown, read once from the store into frozen, typed records: the status
(``status.py``), a run's row and the runs list (``runs.py``), a run's report and page
(``report.py``), an issue and the queue (``issues.py``), the trends and production's heals;
the command line, ``factory mcp`` and the dashboard only render them, through one Jinja
environment a process and the filters every face writes with (``text.py``)."""
