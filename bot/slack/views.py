"""Modals: a form built from its definition, and the "edit arguments" view of an approval.

Each form field becomes one input block whose ``block_id`` is the field's name, so the
service's ``{field: message}`` validation errors map straight onto the modal
(``response_action: errors``). Submitted values are read back per element type into plain
Python values (str, float, bool, list, a user id).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DatePickerElement,
    EmailInputElement,
    InputBlock,
    InputInteractiveElement,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

FORM_CALLBACK = "rpa_form"
EDIT_CALLBACK = "rpa_edit_approval"
VALUE = "value"  # the action_id of every input element
_TITLE_LIMIT, _METADATA_LIMIT, _INPUT_LIMIT = 24, 3000, 3000


class FieldLike(Protocol):
    """What a modal needs of one form field (``tools.forms`` field definitions fit)."""

    name: str
    label: str
    type: str
    required: bool


class FormLike(Protocol):
    """What a modal needs of a form definition."""

    name: str
    title: str
    fields: Sequence[Any]


def _options(field: Any) -> list[Option]:
    values = getattr(field, "options", None) or getattr(field, "choices", None) or []
    return [Option(value=str(v)[:150], label=str(v).replace("_", " ")[:75]) for v in values][:100]


def _initial(field: Any) -> Any:
    return getattr(field, "default", None)


def field_element(field: Any) -> InputInteractiveElement:
    """The input element for one field type (unknown types get a plain text input)."""
    kind = str(field.type).replace("-", "_").replace(" ", "_").lower()
    initial = _initial(field)
    if kind in ("number", "money", "integer", "amount"):
        return NumberInputElement(
            action_id=VALUE,
            is_decimal_allowed=kind != "integer",
            initial_value=None if initial is None else str(initial),
        )
    if kind == "date":
        return DatePickerElement(
            action_id=VALUE, initial_date=None if initial is None else str(initial)
        )
    if kind == "email":
        return EmailInputElement(action_id=VALUE, initial_value=initial)
    if kind in ("choice", "select"):
        return StaticSelectElement(action_id=VALUE, options=_options(field), placeholder="Choose…")
    if kind in ("multi_choice", "multichoice", "multi_select"):
        return StaticMultiSelectElement(
            action_id=VALUE, options=_options(field), placeholder="Choose…"
        )
    if kind in ("boolean", "bool", "checkbox"):
        return CheckboxesElement(action_id=VALUE, options=[Option(value="yes", label="Yes")])
    if kind == "user":
        return UserSelectElement(
            action_id=VALUE, placeholder="Choose a person", initial_user=initial
        )
    multiline = kind in ("long_text", "textarea") or bool(getattr(field, "multiline", False))
    return PlainTextInputElement(
        action_id=VALUE,
        multiline=multiline,
        initial_value=None if initial is None else str(initial),
    )


def _field_block(field: Any) -> InputBlock:
    kind = str(field.type).lower()
    hint = getattr(field, "help", None) or getattr(field, "description", None)
    label = getattr(field, "label", None) or field.name
    if getattr(field, "currency", None):
        label = f"{label} ({field.currency})"
    return InputBlock(
        block_id=field.name,
        label=label[:2000],
        element=field_element(field),
        hint=str(hint)[:2000] if hint else None,
        # An unticked checkbox sends nothing: boolean fields must stay optional to be "no".
        optional=kind in ("boolean", "bool", "checkbox") or not getattr(field, "required", False),
    )


def form_modal(form: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """The modal for ``form``; ``metadata`` (channel, response_url...) comes back on submit."""
    blocks: list[Block] = []
    description = getattr(form, "description", "")
    if description:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=str(description)[:3000])))
    blocks.extend(_field_block(f) for f in form.fields)
    title = getattr(form, "title", None) or form.name
    view = View(
        type="modal",
        callback_id=FORM_CALLBACK,
        title=str(title)[:_TITLE_LIMIT],
        submit="Submit",
        close="Cancel",
        blocks=blocks[:100],
        private_metadata=_metadata({"form": form.name, **metadata}),
    )
    return view.to_dict()


def _metadata(data: dict[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"))
    if len(text) > _METADATA_LIMIT:  # a long response_url is the only thing that can be dropped
        text = json.dumps(
            {k: v for k, v in data.items() if k != "response_url"}, separators=(",", ":")
        )
    return text


def read_values(view: dict[str, Any]) -> dict[str, Any]:
    """The submitted values of a modal, by block id, as plain Python values (None when empty)."""
    out: dict[str, Any] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        state: dict[str, Any] = actions.get(VALUE) or next(iter(actions.values()), {})
        out[block_id] = _read_one(state)
    return out


def _read_one(state: dict[str, Any]) -> Any:
    kind = state.get("type")
    if kind == "number_input":
        raw = state.get("value")
        return None if raw in (None, "") else float(raw)
    if kind == "datepicker":
        return state.get("selected_date")
    if kind == "static_select":
        option = state.get("selected_option") or {}
        return option.get("value")
    if kind == "multi_static_select":
        return [o["value"] for o in state.get("selected_options") or []]
    if kind == "checkboxes":
        return bool(state.get("selected_options"))
    if kind == "users_select":
        return state.get("selected_user")
    return state.get("value")


def edit_modal(
    action_id: str, arguments: dict[str, Any], metadata: dict[str, Any]
) -> dict[str, Any]:
    """A modal prefilled with an approval's arguments; non-text values are edited as JSON."""
    types = {k: "str" if isinstance(v, str) else "json" for k, v in arguments.items()}
    blocks: list[Block] = []
    for key, value in list(arguments.items())[:99]:
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        )
        blocks.append(
            InputBlock(
                block_id=f"arg:{key}"[:255],
                label=str(key)[:2000],
                element=PlainTextInputElement(
                    action_id=VALUE, initial_value=text[:_INPUT_LIMIT], multiline=len(text) > 60
                ),
                hint=None if types[key] == "str" else "JSON value",
                optional=True,
            )
        )
    view = View(
        type="modal",
        callback_id=EDIT_CALLBACK,
        title="Edit and approve",
        submit="Approve",
        close="Cancel",
        blocks=blocks or [SectionBlock(text="This action takes no arguments.")],
        private_metadata=_metadata({"action_id": action_id, "types": types, **metadata}),
    )
    return view.to_dict()


def read_edited_arguments(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(arguments, errors)`` from a submitted edit modal; errors map block id -> message."""
    meta = json.loads(view.get("private_metadata") or "{}")
    types: dict[str, str] = meta.get("types", {})
    values = read_values(view)
    arguments: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, kind in types.items():
        block_id = f"arg:{key}"[:255]
        raw = values.get(block_id)
        if kind == "str":
            arguments[key] = raw or ""
            continue
        try:
            arguments[key] = json.loads(raw) if raw not in (None, "") else None
        except json.JSONDecodeError as exc:
            errors[block_id] = f"Not a valid JSON value: {exc.msg}"
    return arguments, errors
