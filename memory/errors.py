"""The project's error hierarchy, in one place.

It lives at the bottom of the dependency chain (``memory`` imports nothing of ours) so that
every layer can raise and catch the same classes. Errors the model can fix (a bad argument)
go back to it as tool text; infrastructure errors propagate to one handler per surface, which
logs the traceback under an error id and tells the user something short and true.
"""

from __future__ import annotations

import secrets


def new_error_id() -> str:
    """A short id a person can quote to an admin, e.g. ``E-3f9a1c``."""
    return f"E-{secrets.token_hex(3)}"


class RpaError(Exception):
    """Base class of every error rpa-agent raises on purpose."""


class ConfigError(RpaError):
    """The configuration is wrong or incomplete; the message says what to change."""


class ModelNotAvailable(ConfigError):
    """The configured model cannot be found or loaded; the message names the fix."""


class NotFound(RpaError):
    """A named thing (form, process, submission, approval, file) does not exist."""


class ToolArgumentError(RpaError):
    """A tool was called with arguments it cannot accept; the model can fix this.

    ``errors`` maps a field name to a message a person (or the model) understands.
    """

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})

    def __str__(self) -> str:
        base = super().__str__()
        if not self.errors:
            return base
        details = "; ".join(f"{field}: {msg}" for field, msg in self.errors.items())
        return f"{base} ({details})"


class PolicyDenied(RpaError):
    """The caller may not do this (tool policy, recipient domain, approver role)."""


class ApprovalError(RpaError):
    """An approval was refused: expired, already used, foreign, or for other arguments."""


class IngestError(RpaError):
    """A document could not be read; the message names the reason. Others still ingest."""


class DeliveryError(RpaError):
    """An outgoing message could not be delivered (yet)."""
