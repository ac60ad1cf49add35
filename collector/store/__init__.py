"""The embedded SQLite store: schema and migrations, writer, indexer, queries."""
