"""What rpa-agent remembers: the SQLite state, the knowledge base, audit, approvals, outbox.

This package imports nothing else of the project: ``tools`` and ``bot`` build on it.
"""
