"""``rpa-agent doctor``: the configuration, the runtime, and a verdict on what works.

The verdict is a list of checks, each marked works / works with a caveat / does not work, and
each that is not fine names the one command (or setting) that fixes it: the workspace loads,
the state database is reachable and migrated, the documents are indexed, the model is prepared and trained for this workspace, someone
holds every role the processes wait for, Slack and mail are connected.
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
Status = Literal["ok", "caveat", "broken"]
_MARK = {"ok": "[green]✓[/green]", "caveat": "[yellow]![/yellow]", "broken": "[red]✗[/red]"}


@dataclass(frozen=True)
class Check:
    """One line of the verdict."""

    status: Status
    what: str  # what works or does not, in a sentence
    fix: str = ""  # the one command or setting that fixes it


def register(app: typer.Typer) -> None:
    """Add ``doctor``."""
    app.command("doctor")(doctor)


def doctor(
    show_all: bool = typer.Option(False, "--all", help="List every setting, defaults included."),
) -> None:
    """The configuration (secrets masked), the runtime, and a verdict: what works, what to fix."""
    from bot.cli.common import settings as get_settings

    settings = get_settings()
    _print_settings(settings, show_all)
    _print_runtime(settings)
    _print_model(settings)
    _print_slack(settings)
    print_verdict(verdict(settings))


# ---- the verdict ----------------------------------------------------------------------------
def verdict(settings: Any) -> list[Check]:
    """Every check, in the order a new user meets them."""
    checks: list[Callable[[Any], Check]] = [
        _workspace,
        _state,
        _documents,
        _model,
        _training,
        _roles,
        _slack,
        _mail,
    ]
    return [check(settings) for check in checks]


def print_verdict(checks: list[Check]) -> None:
    console.print("\n[bold]Verdict[/bold]")
    for check in checks:
        fix = f"\n      [dim]fix:[/dim] {escape(check.fix)}" if check.fix else ""
        console.print(f"  {_MARK[check.status]} {escape(check.what)}{fix}", highlight=False)
    broken = sum(c.status == "broken" for c in checks)
    caveats = sum(c.status == "caveat" for c in checks)
    if not broken and not caveats:
        console.print("Everything works.")
    else:
        console.print(f"{broken} thing(s) do not work yet, {caveats} work with a caveat.")


def _workspace(settings: Any) -> Check:
    from memory.errors import ConfigError
    from tools.forms import load_forms
    from tools.process_defs import load_processes
    from tools.workspace import load_profile

    where = settings.workspace
    if not where.is_dir():
        return Check("broken", f"the workspace {where} does not exist", "set RPA_WORKSPACE in .env")
    try:
        company = load_profile(where).company.name
        forms, processes = load_forms(where), load_processes(where)
    except ConfigError as exc:
        return Check("broken", f"the workspace does not load: {exc}", "edit the file it names")
    return Check(
        "ok", f"workspace {where.name} ({company}): {len(forms)} forms, {len(processes)} processes"
    )


def _state(settings: Any) -> Check:
    from bot.cli.db_cmds import state_check

    works, what, fix = state_check(settings)
    return Check("ok" if works else "broken", what, fix)


def _documents(settings: Any) -> Check:
    fix = "rpa-agent ingest"
    if not settings.chroma_url and not settings.chroma_dir.is_dir():
        return Check(
            "broken", "the process documents are not indexed yet (/docs finds nothing)", fix
        )
    try:
        from bot.cli.knowledge import open_kb

        passages = open_kb(settings).count()
    except Exception as exc:  # a store that does not open is exactly what this check reports
        return Check("broken", f"the knowledge base does not open: {exc}", fix)
    if not passages:
        return Check("broken", "the knowledge base is empty (/docs finds nothing)", fix)
    return Check("ok", f"documents: {passages} passages indexed")


def _model(settings: Any) -> Check:
    if settings.llm_backend == "remote":
        if not settings.remote_base_url:
            return Check(
                "broken", "the remote model has no address", "set RPA_REMOTE_BASE_URL in .env"
            )
        return Check("ok", f"model: served by {settings.remote_base_url}")
    from bot.llm.loading import describe_model

    lines = describe_model(settings)
    problem = next((line for line in lines if line.startswith("not available")), None)
    if problem:
        return Check("broken", f"model: {problem}", "make run (installs the embedded model)")
    if any("not yet converted" in line for line in lines):
        return Check(
            "broken",
            "model: not prepared, so the first question waits about 30 s for a conversion",
            "rpa-agent model prepare",
        )
    return Check("ok", f"model: {settings.model}, prepared")


def _training(settings: Any) -> Check:
    """Is the model trained on this workspace's tools as they are now (bot/adapters.py)?"""
    from bot.adapters import check_adapter

    found = check_adapter(settings)
    if found.ok:
        return Check("ok", found.message)
    hint = " (the /commands do not need it)"
    status: Status = "broken" if found.state == "missing" else "caveat"
    return Check(status, found.message + hint, found.fix)


def needed_roles(settings: Any) -> dict[str, list[str]]:
    """role -> the processes (and tool rules) that wait for someone holding it."""
    from tools.process_defs import load_processes

    needs: dict[str, list[str]] = {}
    for process in load_processes(settings.workspace).values():
        for step in [*process.steps, *process.on_reject]:
            role = getattr(step, "role", None)
            if getattr(step, "type", "") == "approval" and role:
                needs.setdefault(role, []).append(process.name)
    for tool, rule in (settings.tool_policy or {}).items():
        for role in [*rule.get("roles", []), *rule.get("approvers", [])]:
            if role != "*":
                needs.setdefault(role, []).append(f"tool {tool}")
    return {role: sorted(set(users)) for role, users in needs.items()}


def _roles(settings: Any) -> Check:
    from bot.wiring import Roles

    roles, needs = Roles.configured(settings), needed_roles(settings)
    example = '{"' + (next(iter(needs), "manager")) + '": ["U0123ABCD"]}'
    fix = f"set RPA_ROLES in .env, e.g. RPA_ROLES='{example}' (README, Roles)"
    if roles.demo:
        return Check(
            "caveat",
            "no roles are configured (RPA_ROLES), so the workspace's demo people decide approvals, "
            "in the terminal only (/as manager and the like); in Slack nobody can",
            fix,
        )
    missing = {role: where for role, where in needs.items() if not roles.who(role)}
    if missing:
        names = "; ".join(f"{role!r} (for {', '.join(where)})" for role, where in missing.items())
        return Check("broken", f"nobody holds {names}: those approvals can never be decided", fix)
    return Check("ok", f"roles: every role the processes need has someone ({len(needs)} roles)")


def _slack(settings: Any) -> Check:
    fix = "set SLACK_BOT_TOKEN and SLACK_APP_TOKEN in .env (README, Connect Slack)"
    if settings.slack_mode is None:
        return Check("caveat", "Slack is not connected: the terminal chat works", fix)
    from bot.slack.app import check_tokens

    problems = check_tokens(settings)
    if problems:
        return Check("broken", "Slack: " + "; ".join(problems), fix)
    return Check("ok", f"Slack: connected ({settings.slack_mode} mode)")


def _mail(settings: Any) -> Check:
    if settings.smtp_host:
        return Check("ok", f"mail: sent through {settings.smtp_host}:{settings.smtp_port}")
    return Check(
        "caveat",
        f"mail is written as .eml files to {settings.outbox_dir}, not sent",
        "set RPA_SMTP_HOST (and RPA_SMTP_USERNAME, RPA_SMTP_PASSWORD) in .env",
    )


# ---- what doctor lists before the verdict ------------------------------------------------------
def _print_settings(settings: Any, show_all: bool) -> None:
    defaults = type(settings).model_fields
    table = Table(
        title="Configuration" if show_all else "Configuration (settings not at their default)"
    )
    table.add_column("setting")
    table.add_column("value")
    hidden = 0
    for name, value in settings.public_view().items():
        default = defaults[name].get_default(call_default_factory=True)
        if not show_all and _same(value, default):
            hidden += 1
            continue
        table.add_row(name, escape(str(value)))
    console.print(table)
    if hidden:
        console.print(f"[dim]{hidden} more at their defaults (rpa-agent doctor --all).[/dim]")


def _same(value: Any, default: Any) -> bool:
    return value == default or str(value) == str(default)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _print_runtime(settings: Any) -> None:
    console.print("\n[bold]Runtime[/bold]")
    console.print(f"  python {platform.python_version()} on {platform.machine()}")
    for package in ("torch", "transformers", "langchain", "langgraph", "chromadb", "slack-bolt"):
        console.print(f"  {package} {_version(package)}")
    from bot.llm.loading import describe_device

    console.print(f"  device: {describe_device()}")
    console.print(f"  data dir: {settings.data_dir.resolve()}")
    console.print(f"  workspace: {settings.workspace}")


def _print_model(settings: Any) -> None:
    console.print("\n[bold]Model[/bold]")
    if settings.llm_backend == "remote":
        console.print(f"  remote: {settings.remote_base_url or '(RPA_REMOTE_BASE_URL is not set)'}")
        return
    from bot.llm.loading import describe_model

    for line in describe_model(settings):
        console.print(f"  {escape(line)}")


def _print_slack(settings: Any) -> None:
    console.print("\n[bold]Slack[/bold]")
    if settings.slack_mode is None:
        missing = []
        if not settings.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN")
        if not (settings.slack_app_token or settings.slack_signing_secret):
            missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        console.print(f"  not configured: missing {', '.join(missing)}")
        return
    console.print(f"  mode: {settings.slack_mode}")
