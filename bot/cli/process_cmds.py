"""CLI commands for processes: ``process list``, ``run NAME``, ``status ID``, ``cancel ID``, ``retry ID``.

``process run`` is the person's own request, as when they fill the process's form in Slack:
the inputs come from ``--inputs JSON`` or from field-by-field prompts, are shown once more and
confirmed (or ``--yes``), then the run starts and goes as far as it can (an approval step
leaves it waiting; ``process status`` shows for whom). Every problem with the inputs is named
at once, and nothing is stored until they are right. A run that ends ``failed`` makes the
command exit 1; a process file the workspace cannot use is listed with its file and line.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
process_app = typer.Typer(
    help="Business processes: list, run, status, cancel, retry.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``process`` command group."""
    app.add_typer(process_app, name="process")


def _engine() -> Any:
    from bot.cli.common import settings
    from bot.wiring import build_app

    return build_app(settings(), with_model=False).engine


def _user(user: str) -> str:
    from bot.cli.common import settings

    return user or settings().terminal_user


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


@process_app.command("list")
def process_list(
    runs: bool = typer.Option(False, "--runs", help="List the latest runs instead."),
    limit: int = typer.Option(20, "--limit", min=1, help="How many runs (with --runs)."),
) -> None:
    """The processes of the workspace (or, with --runs, the latest runs)."""
    engine = _engine()
    if runs:
        table = Table("run", "reference", "process", "requester", "status", "updated")
        for run in engine.list_runs(limit=limit):
            table.add_row(
                run.id, run.reference or "", run.process, run.requester, run.status, run.updated_at
            )
        console.print(table)
        return
    table = Table("process", "title", "form", "steps")
    for process in engine.definitions().values():
        table.add_row(process.name, process.title, process.form or "", str(len(process.steps)))
    console.print(table)
    _print_disabled(engine.problems)


@process_app.command("run")
def process_run(
    name: str = typer.Argument(..., help="The process, e.g. expense_reimbursement."),
    inputs: str = typer.Option(
        "", "--inputs", help="The form's values as JSON; omit to be asked field by field."
    ),
    user: str = typer.Option("", "--user", help="Who requests it (default RPA_TERMINAL_USER)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start without asking for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's report as JSON."),
) -> None:
    """Start a run of a process with the form's values, and report where it stands."""
    from memory.errors import NotFound, ToolArgumentError

    engine = _engine()
    try:
        description = engine.describe(name)
    except NotFound as exc:
        raise _fail(str(exc)) from exc
    values = _parse_inputs(inputs) if inputs else _prompt_inputs(description)
    try:
        engine.validate(name, values)
    except ToolArgumentError as exc:
        _print_errors(exc)
        raise typer.Exit(2) from exc
    console.print(f"[bold]Start {description.title}[/bold] for {_user(user)}:")
    for key, value in values.items():
        console.print(f"  {key}: {value}")
    if not (yes or typer.confirm("Start?", default=False)):
        console.print("Not started; nothing was stored.")
        raise typer.Exit(1)
    run = engine.start(name, values, requester=_user(user), channel="cli")
    _print_report(engine.report(run.id), as_json)
    _exit_if_failed(run)


@process_app.command("status")
def process_status(
    run_id: str = typer.Argument(..., help="The run's id (R-...) or its business reference."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Where a run stands: its steps, what it waits for, the messages it left."""
    from memory.errors import NotFound

    try:
        report = _engine().report(run_id.strip())
    except NotFound as exc:
        raise _fail(str(exc)) from exc
    _print_report(report, as_json)


@process_app.command("cancel")
def process_cancel(
    run_id: str = typer.Argument(..., help="The run's id (R-...) or its reference."),
    user: str = typer.Option("", "--user", help="Who cancels: the requester or an admin."),
) -> None:
    """Stop a run that has not finished (what it already did stays done)."""
    from bot.cli.common import settings
    from memory.errors import NotFound, PolicyDenied, ToolArgumentError

    who = _user(user)
    roles = [role for role, users in settings().roles.items() if who in users]
    try:
        run = _engine().cancel(run_id.strip(), who, roles)
    except (NotFound, PolicyDenied, ToolArgumentError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"Run {run.id} ({run.reference or run.process}) is cancelled.")


@process_app.command("retry")
def process_retry(
    run_id: str = typer.Argument(..., help="A failed run's id (R-...) or its reference."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run a failed run again from the step that failed, once its cause is fixed."""
    from memory.errors import NotFound, ToolArgumentError

    engine = _engine()
    try:
        run = engine.retry(run_id.strip())
    except (NotFound, ToolArgumentError) as exc:
        raise _fail(str(exc)) from exc
    _print_report(engine.report(run.id), as_json)
    _exit_if_failed(run)


# ---- helpers ---------------------------------------------------------------------------------
def _exit_if_failed(run: Any) -> None:
    """A run that stopped failed is a failed command (scripts and CI see it)."""
    if run.status == "failed":
        raise typer.Exit(1)


def _print_disabled(problems: list[str]) -> None:
    for problem in problems:
        typer.secho(f"disabled: {problem}", fg="yellow", err=True)


def _parse_inputs(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"--inputs is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise _fail("--inputs must be a JSON object, e.g. '{\"amount\": 42.5}'")
    return raw


def _prompt_inputs(description: Any) -> dict[str, Any]:
    """Ask for each form field in order; an empty answer leaves an optional field out."""
    values: dict[str, Any] = {}
    if description.fields:
        console.print(f"[bold]{description.title}[/bold]: {description.description}")
    for field in description.fields:
        hint = f" ({', '.join(field.options)})" if field.options else ""
        label = f"{field.label}{hint}" + ("" if field.required else " [optional]")
        if field.type == "boolean":
            values[field.name] = typer.confirm(label, default=bool(field.default))
            continue
        default = "" if field.default is None else str(field.default)
        answer = typer.prompt(label, default=default, show_default=bool(default))
        if str(answer).strip():
            values[field.name] = answer
    return values


def _print_errors(exc: Any) -> None:
    typer.secho(f"The inputs have problems: {exc.args[0] if exc.args else exc}", fg="red", err=True)
    for field, message in exc.errors.items():
        typer.secho(f"  {field}: {message}", fg="red", err=True)


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(report.text())
