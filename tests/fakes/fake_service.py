"""A scripted ``ConversationService`` for surface tests: records every call, replays a script.

``script`` maps a method (``handle``, ``command``, ``decide``, ``submit_form``) to a list of
events or a function of the call's arguments returning one. A ``gate`` holds every call open
until the test releases it (to show that acknowledgements never wait on the service and that
at most ``workers`` conversations run at once); ``raise_in`` makes a method fail mid-stream.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.events import Error, Event, Final, Inbound, TextDelta

Script = list[Event] | Callable[..., list[Event]]


@dataclass(frozen=True)
class ServiceCall:
    method: str
    args: tuple[Any, ...]


class FakeService:
    """Implements ``bot.events.ConversationService`` from a script."""

    def __init__(self) -> None:
        self.calls: list[ServiceCall] = []
        self.script: dict[str, Script] = {}
        self.gate: threading.Event | None = None
        self.raise_in: set[str] = set()
        self.active = 0
        self.max_active = 0
        self._cond = threading.Condition()

    # ---- the protocol -----------------------------------------------------------------------
    def handle(self, inbound: Inbound) -> AsyncIterator[Event]:
        return self._run("handle", inbound)

    def command(self, inbound: Inbound, name: str, argument: str) -> AsyncIterator[Event]:
        return self._run("command", inbound, name, argument)

    def decide(
        self,
        action_id: str,
        user: str,
        decision: Literal["approve", "reject"],
        arguments: dict[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        return self._run("decide", action_id, user, decision, arguments)

    def submit_form(
        self, inbound: Inbound, form: str, values: dict[str, Any]
    ) -> AsyncIterator[Event]:
        return self._run("submit_form", inbound, form, values)

    def stop(self, conversation_id: str) -> bool:
        with self._cond:
            self.calls.append(ServiceCall("stop", (conversation_id,)))
            self._cond.notify_all()
            return any(
                c.method == "handle" and c.args[0].conversation_id == conversation_id
                for c in self.calls
            )

    # ---- what a test looks at -------------------------------------------------------------
    def calls_to(self, method: str) -> list[ServiceCall]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[ServiceCall]:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len([c for c in self.calls if c.method == method]) >= count, timeout
            )
            if not ok:
                raise AssertionError(f"expected {count} call(s) to {method!r}, got {self.calls}")
            return [c for c in self.calls if c.method == method]

    def wait_active(self, count: int, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.active >= count, timeout):
                raise AssertionError(f"expected {count} active call(s), got {self.active}")

    # ---- inside -----------------------------------------------------------------------------
    async def _run(self, method: str, *args: Any) -> AsyncIterator[Event]:
        with self._cond:
            self.calls.append(ServiceCall(method, args))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self._cond.notify_all()
        try:
            if self.gate is not None:
                released = await asyncio.to_thread(self.gate.wait, 10)
                assert released, "the test never opened the gate"
            for event in self._events(method, args):
                yield event
            if method in self.raise_in:
                raise RuntimeError(f"scripted failure in {method}")
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify_all()

    def _events(self, method: str, args: tuple[Any, ...]) -> list[Event]:
        script = self.script.get(method)
        if script is None:
            return _default(method, args)
        return script(*args) if callable(script) else list(script)


def _default(method: str, args: tuple[Any, ...]) -> list[Event]:
    if method == "handle":
        text = f"You said: {args[0].text}"
        return [TextDelta(text[:5]), TextDelta(text[5:]), Final(text)]
    if method == "command":
        return [Final(f"{args[1]} {args[2]}".strip() + ": done")]
    if method == "decide":
        return [Final(f"{args[2]}d {args[0]}")]
    if method == "submit_form":
        return [Final(f"Form {args[1]} submitted.")]
    return [Error("unknown method", "E-000000")]
