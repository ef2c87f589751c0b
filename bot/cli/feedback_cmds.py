"""``rpa-agent feedback``: what people said of the bot's answers with Slack's feedback buttons,
newest first, with the thread, the turn and the model (and adapter) that answered."""

from __future__ import annotations

from typing import Literal

import typer


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback)


def feedback(
    rating: str = typer.Option("", help="Only 'positive' or 'negative' presses."),
    limit: int = typer.Option(50, min=1, help="At most this many presses."),
) -> None:
    """List the feedback people gave on answers in Slack."""
    from rich.console import Console
    from rich.table import Table

    from bot.cli.common import settings
    from memory.db import Database
    from memory.slack_feedback import Answers

    if rating not in ("", "positive", "negative"):
        raise typer.BadParameter("--rating is 'positive' or 'negative'")
    chosen: Literal["positive", "negative"] | None = rating or None  # type: ignore[assignment]
    s = settings()
    if s.database_url is None and not s.state_db.is_file():
        typer.echo("No feedback yet (no state database).")
        return
    rows = Answers(Database(s.state_store)).rated(chosen, limit)
    if not rows:
        typer.echo("No feedback yet.")
        return
    table = Table("when", "rating", "by", "thread", "turn", "model", "question", "answer")
    for r in rows:
        model = f"{r.model} + {r.adapter}" if r.adapter else r.model
        mark = "+" if r.rating == "positive" else "-"
        table.add_row(
            r.pressed_at[:16], mark, r.user, f"{r.channel}:{r.thread}", str(r.turn), model,
            r.question[:60], r.answer[:80],
        )  # fmt: skip
    Console(width=200).print(table)
    positive = sum(r.rating == "positive" for r in rows)
    typer.echo(f"{positive} positive, {len(rows) - positive} negative")
