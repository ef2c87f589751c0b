"""Benchmarks that ``rpa-agent bench`` runs; each prints figures and writes JSON + Markdown."""
