"""The SQLite store: the only part of the harness that touches the database (``db.Store``). Nothing
is imported here: a module reading a record type (``records``) loads no database layer."""
