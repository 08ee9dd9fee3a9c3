"""The store: runs.duckdb, its schema, ingestion of run folders, writes and reads (the one door to DuckDB)."""
