"""A process run in its own OS process, for the crash tests: ``python -m tests.processes.crash_driver``.

It starts a run (or, after a crash, recovers), and plays the approvers: whenever the run waits,
the person holding the role approves and the run is resumed. With ``--kill-at STEP:MOMENT`` it
kills itself with SIGKILL at that boundary, through the engine's test hooks:
``applied`` (the step's effect happened, its ``done`` is not recorded yet), ``done`` (recorded),
or ``decided`` (an approval step's decision is stored but the run was not resumed yet).
The final run report is printed as JSON on the last line (or written to ``report_to``).

The tests run ``drive`` in processes forked from a multiprocessing fork server that has
already imported the tools, so each restart costs milliseconds instead of seconds of imports;
every child is still a separate OS process that builds its engine from nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.processes.harness import build_engine, make_settings

# Who plays each role when the run asks for an approval.
APPROVERS = {"manager": "U_MGR", "director": "U_DIR", "procurement": "U_PROC", "finance": "U_FIN"}
RUN_KEY = "crash-test-run"


def drive(
    workspace: Path,
    data_dir: Path,
    smtp_port: int,
    *,
    start: str | None = None,
    inputs: dict[str, Any] | None = None,
    kill_at: str = "",
    report_to: Path | None = None,
) -> dict[str, Any]:
    """Start (or recover) the run, approve whatever it waits for, return its final report."""
    target = tuple(kill_at.split(":")) if kill_at else None

    def hook(moment: str) -> Callable[[str, str], None]:
        def at(run_id: str, step_id: str) -> None:
            if (step_id, moment) == target:
                os.kill(os.getpid(), signal.SIGKILL)

        return at

    settings = make_settings(workspace, data_dir, smtp_port)
    engine, _, _ = build_engine(
        settings, on_step_applied=hook("applied"), on_step_done=hook("done")
    )
    if start:
        run = engine.start(start, inputs or {}, requester="U_EMP", idempotency_key=RUN_KEY)
    else:
        engine.recover()
        run = engine.runs.list(limit=1)[0]
    while run.status == "waiting_approval":
        action = engine.report(run.id).waiting_for
        assert action is not None and action.role is not None
        engine.approvals.decide(
            action.id, APPROVERS[action.role], "approve", user_roles=[action.role]
        )
        hook("decided")(run.id, str(action.step_id))
        run = engine.resume_after_decision(action.id)
    report = engine.report(run.id).as_dict()
    if report_to is not None:
        report_to.write_text(json.dumps(report, default=str), encoding="utf-8")
    return report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--start", help="process name: start a run (else recover)")
    parser.add_argument("--inputs", default="{}")
    parser.add_argument("--kill-at", default="", help="STEP:applied|done|decided")
    args = parser.parse_args()
    report = drive(
        args.workspace, args.data_dir, args.smtp_port,
        start=args.start, inputs=json.loads(args.inputs), kill_at=args.kill_at,
    )  # fmt: skip
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
