"""Prompt files (Markdown and Jinja2) shipped with rpa-agent, and the loader that reads them."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2


@lru_cache(maxsize=64)
def load_prompt(name: str) -> str:
    """The raw text of ``prompts/<name>`` (e.g. ``"system.md"``)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)


def render_prompt(name: str, **values: Any) -> str:
    """Render ``prompts/<name>`` as a Jinja2 template; a missing value is an error, not a blank."""
    return _ENV.from_string(load_prompt(name)).render(**values)
