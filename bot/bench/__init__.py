"""Benchmarks that ``rpa-agent bench`` runs; each prints figures and writes JSON + Markdown.

``model`` and ``batching`` (the local model and its scheduler), ``retrieval``, ``slack`` (HTTP
mode under bursts), ``e2e`` (a cited answer through the whole bot) and ``report`` (percentiles,
result files). The running bot never imports this package.
"""
