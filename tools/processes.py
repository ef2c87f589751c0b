"""Processes (RPA workflows) as agent tools, and the public face of the process package.

``make_process_tools(engine)`` gives the agent ``list_processes`` and ``describe_process``
(read), ``start_process`` (write, self-service: the requester confirms the exact inputs of
their own run first, and the
approval's id becomes the run's idempotency key, so a replayed approval never starts a second
run) and ``process_status`` (read). The engine itself lives in ``tools.process_engine``, the
definitions in ``tools.process_defs``, what each step does in ``tools.process_steps``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memory.errors import NotFound, ToolArgumentError
from tools.process_defs import ProcessDef, load_processes
from tools.process_engine import ProcessEngine, StartOutcome
from tools.process_report import ProcessDescription, RunReport
from tools.process_steps import PROCESS_APPROVAL_TOOL
from tools.registry import ToolContext, ToolOutput, ToolSpec

__all__ = [
    "PROCESS_APPROVAL_TOOL",
    "ProcessDef",
    "ProcessDescription",
    "ProcessEngine",
    "RunReport",
    "StartOutcome",
    "load_processes",
    "make_process_tools",
]


class ListProcessesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DescribeProcessArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The process's name, e.g. expense_reimbursement.")


class StartProcessArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The process's name, e.g. expense_reimbursement.")
    inputs: dict[str, Any] = Field(
        description="The values of the process's form, field name -> value, as describe_process lists them."
    )


class ProcessStatusArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(
        description="The run's id (R-...) or its reference, as given when it started."
    )


def make_process_tools(engine: ProcessEngine) -> list[ToolSpec]:
    """The four process tools over one engine."""

    def list_processes(ctx: ToolContext, args: ListProcessesArgs) -> ToolOutput:
        """List the business processes that can be started, with their titles."""
        rows = [{"name": p.name, "title": p.title} for p in engine.definitions().values()]
        text = (
            "\n".join(f"- {r['name']}: {r['title']}" for r in rows) or "No processes are defined."
        )
        return ToolOutput(text, {"processes": rows})

    def describe_process(ctx: ToolContext, args: DescribeProcessArgs) -> ToolOutput:
        """Describe a process: what it does, its approvals, and the inputs it needs."""
        description = _known(engine, args.name, lambda: engine.describe(args.name))
        return ToolOutput(description.text(), {"process": description.as_dict()})

    def start_process(ctx: ToolContext, args: StartProcessArgs) -> ToolOutput:
        """Start a process (e.g. an expense reimbursement) with the requester's inputs."""
        key = ctx.idempotency_key or ctx.approval_id
        if ctx.dry_run:
            engine.validate(args.name, args.inputs)
            return ToolOutput(
                f"Would start {args.name} with {args.inputs}.", {"inputs": args.inputs}
            )
        run = _known(engine, args.name, lambda: engine.start(
            args.name, args.inputs, requester=ctx.user, channel=ctx.channel,
            thread=ctx.thread, idempotency_key=key,
        ))  # fmt: skip
        report = engine.report(run.id)
        return ToolOutput(report.text(), report.as_dict())

    def process_status(ctx: ToolContext, args: ProcessStatusArgs) -> ToolOutput:
        """Report where a process run stands: its steps, what it waits for, its messages."""
        report = engine.report(args.run_id.strip())
        return ToolOutput(report.text(), report.as_dict())

    def summarize_start(args: StartProcessArgs) -> str:
        title = (
            engine.definitions()[args.name].title
            if args.name in engine.definitions()
            else args.name
        )
        shown = ", ".join(f"{k}: {v}" for k, v in args.inputs.items())
        return f"Start {title} ({shown})"

    return [
        ToolSpec("list_processes", _doc(list_processes), ListProcessesArgs, list_processes, activity="listing the processes..."),
        ToolSpec("describe_process", _doc(describe_process), DescribeProcessArgs, describe_process, activity="reading the process..."),
        ToolSpec(
            "start_process", _doc(start_process), StartProcessArgs, start_process,
            side_effect="write", activity="starting the process...", summary=summarize_start,
            self_service=True,  # the requester's own run: they confirm its inputs themselves
        ),
        ToolSpec("process_status", _doc(process_status), ProcessStatusArgs, process_status, activity="checking the process..."),
    ]  # fmt: skip


def _known(engine: ProcessEngine, name: str, work: Any) -> Any:
    """Run ``work``; an unknown process name becomes an argument error the model can fix."""
    try:
        return work()
    except NotFound as exc:
        if name.strip() in engine.definitions():
            raise
        raise ToolArgumentError(str(exc), {"name": f"unknown process {name!r}"}) from None


def _doc(func: Any) -> str:
    return (func.__doc__ or "").strip()
