"""移交: custody of records, the temporary-custody period, and transfer batches to the archives."""
