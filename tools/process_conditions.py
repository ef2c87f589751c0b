"""The small, safe expression language of a process step's ``when:`` condition.

``amount > 500``, ``leave_type in ('annual', 'unpaid') and days > 3``, ``not urgent``. It
knows comparisons (``== != < <= > >=``), ``in`` / ``not in`` over a literal list, ``and``,
``or``, ``not``, parentheses, numbers, quoted strings, ``true``/``false``/``null`` and the
names of the run's values. Nothing else: no calls, no attributes, no ``eval``; a condition is
parsed once when the process is loaded, so a typo fails at load time, not mid-run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from memory.errors import ConfigError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}

# An AST node is a tuple: ("lit", value) | ("name", str) | ("list", [nodes])
# | ("cmp", op, left, right) | ("and"|"or", left, right) | ("not", node).
Node = tuple[Any, ...]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ConfigError(f"condition {text!r}: cannot read {text[pos:]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value in _KEYWORDS:
            kind = "kw"
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; one method per precedence level."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def fail(self, why: str) -> ConfigError:
        return ConfigError(f"condition {self.text!r}: {why}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == value and token[0] in ("kw", "op"):
            self.pos += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise self.fail(f"expected {value!r}")

    def parse(self) -> Node:
        if not self.tokens:
            raise self.fail("it is empty")
        node = self.parse_or()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.accept("or"):
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.accept("and"):
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.accept("not"):
            return ("not", self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_atom()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in _COMPARISONS:
            self.pos += 1
            return ("cmp", token[1], left, self.parse_atom())
        if self.accept("in"):
            return ("cmp", "in", left, self.parse_list())
        following = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if token == ("kw", "not") and following == ("kw", "in"):
            self.pos += 2
            return ("cmp", "not in", left, self.parse_list())
        return left

    def parse_list(self) -> Node:
        closing = ")" if self.accept("(") else "]" if self.accept("[") else None
        if closing is None:
            raise self.fail("'in' needs a list like ('a', 'b')")
        items = [self.parse_atom()]
        while self.accept(","):
            items.append(self.parse_atom())
        self.expect(closing)
        if any(item[0] != "lit" for item in items):
            raise self.fail("the list after 'in' may hold only literals")
        return ("list", items)

    def parse_atom(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.fail("it ends too early")
        self.pos += 1
        kind, value = token
        if kind == "number":
            return ("lit", Decimal(value))
        if kind == "string":
            return ("lit", value[1:-1])
        if kind == "name":
            return ("name", value)
        if kind == "kw" and value in ("true", "false", "null"):
            return ("lit", {"true": True, "false": False, "null": None}[value])
        if value == "(":
            node = self.parse_or()
            self.expect(")")
            return node
        raise self.fail(f"unexpected {value!r}")


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _compare(op: str, left: Any, right: Any) -> bool:
    """Numbers compare as numbers (``"600.00" > 500`` is true); otherwise as given."""
    if op in ("in", "not in"):
        found = any(_compare("==", left, item) for item in right)
        return found if op == "in" else not found
    lnum, rnum = _as_number(left), _as_number(right)
    if lnum is not None and rnum is not None:
        left, right = lnum, rnum
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False  # a missing value is neither above nor below anything
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        )
    except TypeError:
        return False


@dataclass(frozen=True)
class Condition:
    """A parsed ``when:`` condition; ``evaluate(values)`` says whether the step applies."""

    text: str
    tree: Node

    @classmethod
    def parse(cls, text: str) -> Condition:
        return cls(text=text, tree=_Parser(text).parse())

    @property
    def names(self) -> frozenset[str]:
        """The value names the condition reads (checked against the process's fields)."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, tuple) and node and node[0] == "name":
                found.add(node[1])
            elif isinstance(node, tuple | list):
                for child in node:
                    walk(child)

        walk(self.tree)
        return frozenset(found)

    def evaluate(self, values: dict[str, Any]) -> bool:
        return bool(self._eval(self.tree, values))

    def _eval(self, node: Node, values: dict[str, Any]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "name":
            return values.get(node[1])
        if kind == "list":
            return [self._eval(item, values) for item in node[1]]
        if kind == "not":
            return not self._eval(node[1], values)
        if kind == "and":
            return self._eval(node[1], values) and self._eval(node[2], values)
        if kind == "or":
            return self._eval(node[1], values) or self._eval(node[2], values)
        return _compare(node[1], self._eval(node[2], values), self._eval(node[3], values))
