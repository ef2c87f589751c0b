"""The in-process serving engine: what turns a loaded model into replies, many at once.

``scheduler`` (continuous batching, chunked prefill, prompt-lookup drafts, pauses for urgent
work), ``kv_cache`` and ``prefix_cache`` (per-row caches and shared prompt prefixes),
``fast_decode`` (the lean decode step), ``quantize`` (fp16 weight packing), ``sampling`` (token
choice) and ``options`` (what a caller asks for). It imports nothing from the LangChain-facing
layer above it (``bot/llm/*.py``), so a model server can take its place by configuration.
torch is imported by the modules that need it, never by this package.
"""
