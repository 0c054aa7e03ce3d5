"""Web views: thin over the archives selectors and the ingest service."""
