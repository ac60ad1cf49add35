"""Ingest: parse, authenticate, enforce identity and limits."""
