"""The rules of the house (docs/architecture.md), checked over every import the code writes.

Imports are read with ``ast``, lazy ones inside functions and ``TYPE_CHECKING`` blocks
included, so a rule cannot be dodged by moving an import into a function.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "tools", "memory", "prompts")
# What the running bot never needs: measuring, evaluating, training, and the CLI on top.
OFFLINE = ("bot.bench", "bot.evals", "bot.training")
HEAVY = ("torch", "transformers", "peft", "xgrammar")


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _ours(name: str) -> str | None:
    """The module of ours that ``name`` lives in, if any."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports() -> dict[str, set[str]]:
    """module -> every dotted name it imports (ours and third-party)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    graph[name].add(full if full in modules() else base)
    return graph


def our_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in imports().items():
        for target in targets:
            module = _ours(target)
            if module and module != source:
                edges[source].add(module)
    return edges


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{source} imports {target}"
        for source, targets in imports().items()
        if _within(source, sources)
        for target in targets
        if _within(target, forbidden)
    )


def test_there_is_no_import_circle() -> None:
    edges = our_edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(modules()):
        if module not in index:
            visit(module)
    assert circles == []


@pytest.mark.parametrize(
    ("layer", "below"),
    [
        ("memory", ("bot", "tools", "prompts")),
        ("tools", ("bot",)),
        ("prompts", ("bot", "tools", "memory")),
    ],
)
def test_lower_layers_never_import_upper_ones(layer: str, below: tuple[str, ...]) -> None:
    assert _violations((layer,), below) == []


def runtime() -> tuple[str, ...]:
    return tuple(
        m
        for m in modules()
        if not _within(m, (*OFFLINE, "bot.cli")) and not (m == "bot" or m.startswith("bot.cli"))
    )


def test_the_runtime_never_imports_benchmarks_evaluation_training_or_the_cli() -> None:
    assert runtime()  # the rule would pass vacuously on an empty list
    assert _violations(runtime(), (*OFFLINE, "bot.cli")) == []


def test_the_engine_needs_nothing_from_the_layer_above_it() -> None:
    engine = ("bot.llm.engine",)
    above = [
        f"{s} imports {t}"
        for s, targets in our_edges().items()
        if _within(s, engine)
        for t in targets
        if not _within(t, engine) and t not in ("bot.config", "bot.priority")
    ]
    assert above == []


def test_torch_and_transformers_load_only_in_the_model_layer() -> None:
    outside = tuple(m for m in runtime() if not _within(m, ("bot.llm",)))
    assert _violations(outside, HEAVY) == []


def test_only_the_config_module_reads_the_environment() -> None:
    readers = [
        name
        for name, path in modules().items()
        if name != "bot.config"
        and any(
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert readers == []
