"""Child process for the crash tests: approve an action, then die by SIGKILL at a named point.

Usage: python action_crash_driver.py WORKSPACE DATA_DIR SMTP_PORT ACTION_ID KILL_AT
KILL_AT: after_decision | after_claim | after_enqueue | after_send. The kill points are test
code (patched in here), never a switch in the product.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.wiring import build_app


def die(*_args: Any, **_kwargs: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def main(workspace: str, data_dir: str, port: str, action_id: str, kill_at: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, workspace=Path(workspace), data_dir=Path(data_dir),
        smtp_host="127.0.0.1", smtp_port=int(port), smtp_security="none",
    )  # fmt: skip
    app = build_app(settings, with_model=False)
    app.approvals.decide(action_id, "U1", "approve")
    if kill_at == "after_decision":
        die()
    if kill_at == "after_claim":
        app.approvals.claim(action_id)
        die()
    if kill_at == "after_enqueue":
        from tools.email_outbox import Outbox

        Outbox.deliver = die  # type: ignore[method-assign]
    if kill_at == "after_send":
        app.approvals.finish = die  # type: ignore[method-assign]
    app.actions.execute(action_id)
    raise SystemExit("the kill point was never reached")


if __name__ == "__main__":
    main(*sys.argv[1:])
