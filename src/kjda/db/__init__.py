"""Our own database machinery: the SQLite backend with its writer queue and group commit,
and the few helpers that do what the ORM would do the slow way."""
