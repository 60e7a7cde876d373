"""Benchmarks: ingest drain rate, publish-to-visible freshness, live-state memory. Run with python -m bench.NAME."""
