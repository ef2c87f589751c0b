"""How processes and their runs are shown: ``/run NAME``, ``process status ID``, the status tool.

``describe_process`` lists what a process needs (its form's fields) and does (its steps);
``RunReport`` is one run with its steps, the notices left for the requester and the approval
it waits for, as text for a person and as a JSON-friendly dict for a surface or the model.
Values whose names start with ``_`` are the engine's own bookkeeping and are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memory.approvals import PendingAction
from memory.runs import Notice, ProcessRun, StepRecord
from tools.forms import FieldDefinition, FormDefinition
from tools.process_defs import ProcessDef

_STEP_WORDS = {
    "form": "submit the form",
    "lookup_docs": "look up the policy",
    "read_sheet": "read a sheet",
    "append_row": "add a row to a sheet",
    "update_row": "update a sheet row",
    "email": "send an email",
    "approval": "get an approval",
    "notify": "tell the requester",
}


@dataclass(frozen=True)
class ProcessDescription:
    """A process as ``/run NAME`` presents it."""

    name: str
    title: str
    description: str
    form: str | None
    fields: list[FieldDefinition]
    steps: list[dict[str, Any]]

    def text(self) -> str:
        lines = (
            [f"{self.title} (`{self.name}`)", self.description.strip()]
            if self.description
            else [f"{self.title} (`{self.name}`)"]
        )
        if self.fields:
            lines.append("It needs:")
            for f in self.fields:
                need = "required" if f.required else "optional"
                choices = f"; one of {', '.join(f.options)}" if f.options else ""
                lines.append(f"- {f.name}: {f.label} ({f.type}, {need}{choices})")
        lines.append("Steps:")
        for s in self.steps:
            when = f" (when {s['when']})" if s["when"] else ""
            lines.append(f"- {s['title']}{when}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "form": self.form,
            "fields": [f.model_dump() for f in self.fields],
            "steps": self.steps,
        }


def describe_process(process: ProcessDef, form: FormDefinition | None) -> ProcessDescription:
    steps = [
        {
            "id": s.id,
            "type": s.type,
            "title": s.title or _STEP_WORDS.get(s.type, s.type),
            "when": s.when,
            **({"role": s.role} if s.type == "approval" else {}),
        }
        for s in process.steps
    ]
    return ProcessDescription(
        name=process.name,
        title=process.title,
        description=process.description,
        form=process.form,
        fields=list(form.fields) if form else [],
        steps=steps,
    )


def visible_values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("_")}


@dataclass(frozen=True)
class RunReport:
    """One run, everything a person asks about it."""

    run: ProcessRun
    steps: list[StepRecord]
    notices: list[Notice]
    waiting_for: PendingAction | None
    process: ProcessDef | None

    @property
    def title(self) -> str:
        return self.process.title if self.process else self.run.process

    def headline(self) -> str:
        """One line: ``Travel request REQ-01001 (R-1a2b3c4d): waiting for manager approval``."""
        ref = f" {self.run.reference}" if self.run.reference else ""
        return f"{self.title}{ref} ({self.run.id}): {self.state()}"

    def state(self) -> str:
        run = self.run
        if run.status == "waiting_approval" and self.waiting_for is not None:
            role = self.waiting_for.role or "requester"
            return f"waiting for {role} approval ({self.waiting_for.id})"
        if run.status == "failed":
            return f"failed at step {run.current_step!r}: {run.error}"
        return run.status.replace("_", " ")

    def text(self) -> str:
        lines = [self.headline()]
        titles = {}
        if self.process is not None:
            titles = {s.id: s.title or _STEP_WORDS.get(s.type, s.type) for s in self.process.steps}
        for step in self.steps:
            lines.append(f"- {titles.get(step.step_id, step.step_id)}: {step.status}")
        lines += [f"> {n.message}" for n in self.notices]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        run = self.run
        return {
            "run_id": run.id,
            "process": run.process,
            "reference": run.reference,
            "status": run.status,
            "requester": run.requester,
            "current_step": run.current_step,
            "error": run.error,
            "values": visible_values(run.values),
            "steps": [
                {"id": s.step_id, "status": s.status, "attempts": s.attempts} for s in self.steps
            ],
            "notices": [n.message for n in self.notices],
            "waiting_for": None
            if self.waiting_for is None
            else {"action_id": self.waiting_for.id, "role": self.waiting_for.role},
            "created_at": run.created_at,
            "updated_at": run.updated_at,
        }
