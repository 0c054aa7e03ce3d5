"""Preservation: keeping the archive readable and recoverable (backup and restore, ...)."""
