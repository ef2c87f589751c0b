"""The README's five-minute tour, replayed literally in a pseudo-terminal; and Ctrl-C mid-answer.

The tour block of README.md is the script: ``NAME> text`` lines are typed at the chat prompt,
``  > text`` lines at a form field, ``(...)`` lines describe and are not checked, every other
line must appear, in order, in what the product printed after the command before it; ``…``
stands for any text. Ids and dates differ from run to run and are compared as placeholders.
The bot runs as a new user runs it: a fresh directory (no ``.env``, the default data dir), the
real command line (``rpa-agent run``) in a terminal, with only the language model stood in for
(tests/tour/tour_driver.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pexpect
import pytest

from bot.config import DEFAULT_WORKSPACE, REPO_ROOT

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]")
_MONTH = "(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_PLACEHOLDERS = [
    (re.compile(r"\bA-[0-9a-f]{8}\b"), "<action>"),
    (re.compile(r"\bR-[0-9a-f]{8}\b"), "<run>"),
    (re.compile(r"\b[A-Z]{2,5}-\d{5}\b"), "<reference>"),
    (re.compile(rf"\b{_DAY} \d{{1,2}} {_MONTH} \d{{4}}\b"), "<date>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{2}/\d{2}/\d{4}\b"), "<date>"),
    (re.compile(rf"\b\d{{1,2}} {_MONTH}\b"), "<date>"),
]
_PROMPT = re.compile(r"^([\w-]+)> (.*)$")
_FIELD = re.compile(r"^  >(?: (.*))?$")


@dataclass
class Step:
    """Text typed at a prompt (none for the start) and the lines expected after it."""

    prompt: str | None
    typed: str | None
    expected: list[str] = field(default_factory=list)


def tour_block() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A five-minute tour", 1)[1]
    return section.split("```text\n", 1)[1].split("\n```", 1)[0].splitlines()


def tour_steps(lines: list[str]) -> list[Step]:
    assert lines[0] == "$ make run", "the tour starts the bot the README's way"
    steps = [Step(None, None)]
    for line in lines[1:]:
        prompt, field_answer = _PROMPT.match(line), _FIELD.match(line)
        if prompt:
            steps.append(Step(f"{prompt.group(1)}> ", prompt.group(2)))
        elif field_answer:
            steps.append(Step("  > ", field_answer.group(1) or ""))
        elif line.strip() and not (line.startswith("(") and line.endswith(")")):
            steps[-1].expected.append(line)
    return steps


def normalise(text: str) -> str:
    text = _ANSI.sub("", text).replace("\r", "\n")
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    text = re.sub(r"─+", "─", text)
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in normalise(expected).split("…")]
    return re.compile(".*?".join(parts))


def check_output(step: Step, output: str) -> None:
    lines = normalise(output).split("\n")
    at = 0
    for expected in step.expected:
        pattern = line_pattern(expected)
        found = next((i for i in range(at, len(lines)) if pattern.fullmatch(lines[i])), None)
        assert found is not None, (
            f"after {step.typed!r} the README shows\n  {expected}\nbut the chat printed:\n"
            + "\n".join(lines[at:])
        )
        at = found + 1


def spawn(tmp_path: Path, model: str, *args: str) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPA_", "SLACK_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), TERM="xterm-256color")
    return pexpect.spawn(
        sys.executable,
        ["-m", "tests.tour.tour_driver", model, *args],
        cwd=str(tmp_path),  # a fresh directory: no .env, the default data dir .rpa-agent
        env=env,
        encoding="utf-8",
        timeout=90,
        dimensions=(60, 320),  # wide enough that no line of the tour wraps
        use_poll=True,  # select() fails on descriptors above 1023 (a long test session has some)
    )


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    steps = tour_steps(tour_block())
    assert any(s.typed and s.typed.startswith("/approve ") for s in steps)
    sheets_before = digests(DEFAULT_WORKSPACE / "sheets")
    child = spawn(tmp_path, "cited", "run")
    transcript = ""
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if following is None:
            child.expect(pexpect.EOF)
        else:
            child.expect_exact(following.prompt)
        output = str(child.before)
        transcript += output
        check_output(step, output)
        if following is not None:
            typed = str(following.typed)
            ids = re.findall(r"A-[0-9a-f]{8}", _ANSI.sub("", transcript))
            if ids:  # the README's ids are examples: type the one this run showed
                typed = re.sub(r"\bA-[0-9a-f]{8}\b", ids[-1], typed)
            child.sendline(typed)
    child.close()
    assert child.exitstatus == 0, transcript[-3000:]
    assert "Traceback" not in transcript
    # The repository's workspace stays as it was; the claim is in the bot's copy.
    assert digests(DEFAULT_WORKSPACE / "sheets") == sheets_before
    copies = list((tmp_path / ".rpa-agent" / "workspaces").glob("acme-*"))
    ledger = openpyxl.load_workbook(copies[0] / "sheets" / "expenses.xlsx")["Claims"]
    rows = [[c.value for c in row] for row in ledger.iter_rows(min_row=2)]
    claim = next(r for r in rows if "Hotel in Lyon, 3 nights" in r)
    assert "approved" in claim and "demo-manager" in claim, claim


def test_ctrl_c_mid_answer_returns_to_the_prompt_without_a_traceback(tmp_path: Path) -> None:
    child = spawn(tmp_path, "paced", "chat")
    child.expect_exact("terminal> ")
    child.sendline("tell me everything about expenses")
    child.expect_exact("word0")
    child.sendintr()
    child.expect_exact("Stopped.")
    child.expect_exact("terminal> ")  # the prompt is back
    child.sendline("/forms")
    child.expect_exact("expense_claim")  # and the chat answers again
    child.expect_exact("terminal> ")
    child.sendintr()  # at the prompt: the first Ctrl-C says how to leave, the second leaves
    child.expect_exact("Ctrl-C again or Ctrl-D to leave")
    child.expect_exact("terminal> ")
    child.sendintr()
    child.expect(pexpect.EOF)
    transcript = _ANSI.sub("", str(child.before))
    child.close()
    assert child.exitstatus == 0 and "Bye." in transcript
    assert "Traceback" not in transcript and "Error" not in transcript
    pieces = int(re.search(r"paced model: (\d+) pieces, closed=True", transcript).group(1))  # type: ignore[union-attr]
    assert pieces < 3000  # the answer stopped midway: its token stream was closed
    log = (tmp_path / ".rpa-agent" / "logs" / "rpa-agent.log").read_text(encoding="utf-8")
    assert "stopped work on terminal:session-1" in log  # the service stopped the turn
