"""The SQLite store: the only part of the harness that touches the database (``db.Store``).
Nothing is imported here: a module that reads a record type (``records``) does not open
the database layer with it."""
