"""The catalogue of intents for this workspace: form requests, clarifications, lookups, mail.

``workspace_intents(forms_with_process)`` lists every intent; the data generator keeps those
whose tools the registry has. A form wrapped by a process (its ``form:``) is started with
``start_process`` so that the ledger, approvals and notifications happen; other forms are
submitted with ``submit_form``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from bot.training import values as v
from bot.training.templates import FORM_SAMPLERS, FORM_TEMPLATES, Filled, Intent

# A request that leaves a required value out, and the one question that asks for it.
CLARIFY: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "expense_claim": ("amount", "What was the amount, in EUR?", (
        "file my expense for {description} on {expense_date}",
        "please claim back {description} from {expense_date}",
        "I need to expense {description}, paid on {expense_date}",
        "expense claim: {description}, {expense_date}",
        "reimburse me for {description} ({expense_date})",
        "can you submit my {description} expense from {expense_date}?",
        "get me my money back for {description}, it was on {expense_date}",
        "new expense: {description} on {expense_date}, receipt attached",
        "{description} on {expense_date} - please file the claim",
    )),
    "leave_request": ("start_date", "Which dates: when does your leave start and end?", (
        "I want to take {days} days of {leave_word}",
        "please book {leave_word} for me, {days} days",
        "request {leave_word}: {days} working days",
        "can I have {days} days of {leave_word}?",
        "I'd like some {leave_word}, {days} days",
        "submit {leave_word} for {days} days please",
        "book me {days} days off ({leave_word})",
        "I need {leave_word}, {days} days, can you put it in?",
        "{leave_word} request for {days} days",
    )),
    "purchase_request": ("cost_center", "Which cost center should it be charged to (like CC-123)?", (
        "I need a purchase order for {description} from {vendor}, {amount}",
        "please raise a PO for {description} at {vendor}, {amount}",
        "order {description} from {vendor} for {amount}",
        "purchase request: {vendor}, {description}, {amount}",
        "can we buy {description} from {vendor}? It costs {amount}",
        "PO for {vendor}: {description}, total {amount}",
        "we need {description} from {vendor}, {amount}, please raise the purchase request",
        "buy {description} at {vendor} for {amount}",
        "purchase order please: {description}, vendor {vendor}, {amount}",
    )),
    "it_access": ("access_level", "Which access level do you need: read, write or admin?", (
        "I need access to {system} because {justification}",
        "please give me access on {system}; {justification}",
        "can I get into {system}? {justification}",
        "request {system} access - {justification}",
        "access request for {system}, {justification}",
        "grant me {system} access, {justification}",
        "I'd like access to {system} since {justification}",
        "{system} access please, {justification}",
        "open {system} for me: {justification}",
    )),
    "vendor_onboarding": ("iban", "What is the vendor's IBAN?", (
        "onboard {legal_name}: VAT {vat_id}, {country}, contact {contact_name} <{contact_email}>, {category}, {expected_annual_spend} a year",
        "register supplier {legal_name} ({country}, VAT {vat_id}), {category}, contact {contact_name} {contact_email}, spend {expected_annual_spend}",
        "new vendor {legal_name}, VAT id {vat_id}, country {country}, {category}, contact {contact_name} ({contact_email}), about {expected_annual_spend} per year",
        "please set up {legal_name} as a {category} supplier in {country}, VAT {vat_id}, contact {contact_name}, {contact_email}, {expected_annual_spend} yearly",
        "add supplier {legal_name}: {category}, {country}, VAT {vat_id}, {expected_annual_spend} per year, contact {contact_name} <{contact_email}>",
        "vendor onboarding - {legal_name} - VAT {vat_id} - {country} - {category} - contact {contact_name} ({contact_email}) - {expected_annual_spend}/year",
    )),
}  # fmt: skip


def _form_intent(form: str, process: str | None) -> Intent:
    sampler = FORM_SAMPLERS[form]

    def fill(rng: random.Random, today: date) -> Filled:
        slots, values = sampler(rng, today)
        if process:
            return slots, {"tool": "start_process", "args": {"name": process, "inputs": values}}
        return slots, {"tool": "submit_form", "args": {"form": form, "values": values}}

    tool = "start_process" if process else "submit_form"
    return Intent(f"{tool}:{form}", (tool,), FORM_TEMPLATES[form], fill, form=form)


def _clarify_intent(form: str, process: str | None) -> Intent:
    missing, question, templates = CLARIFY[form]
    sampler = FORM_SAMPLERS[form]

    def fill(rng: random.Random, today: date) -> Filled:
        slots, _ = sampler(rng, today)
        return slots, {"ask": question, "missing": missing}

    tool = "start_process" if process else "submit_form"
    return Intent(f"ask:{form}", (tool,), templates, fill, form=form)


def _fixed(tool: str, args: Mapping[str, Any], slots: Mapping[str, str] | None = None) -> Filled:
    return dict(slots or {}), {"tool": tool, "args": dict(args)}


def _lookup_intents(forms: Mapping[str, str], processes: list[str]) -> list[Intent]:
    titles = dict(forms)

    def describe_form(rng: random.Random, today: date) -> Filled:
        name = v.pick(rng, tuple(titles))
        return _fixed("describe_form", {"form": name}, {"form": titles[name].lower()})

    def submission(rng: random.Random, today: date) -> Filled:
        sid = v.pick(rng, ("EXP-0", "LV-0", "ITA-0", "V-", "PO-2026-")) + str(
            rng.randrange(1001, 1200)
        )
        return _fixed("get_submission", {"submission_id": sid}, {"id": sid})

    def status(rng: random.Random, today: date) -> Filled:
        ref = v.pick(rng, ("EXP-0", "LV-0", "V-0")) + str(rng.randrange(1001, 1200))
        return _fixed("process_status", {"run_id": ref}, {"id": ref})

    def describe_process(rng: random.Random, today: date) -> Filled:
        name = v.pick(rng, tuple(processes))
        return _fixed("describe_process", {"name": name}, {"process": name.replace("_", " ")})

    def read_sheet(rng: random.Random, today: date) -> Filled:
        path, column, value, what = v.pick(rng, (
            ("expenses.xlsx", "Status", v.pick(rng, ("submitted", "approved", "paid")), "claims"),
            ("expenses.xlsx", "Employee", v.pick(rng, v.PEOPLE), "claims"),
            ("leave.xlsx", "Employee", v.pick(rng, v.PEOPLE), "leave requests"),
            ("purchase_orders.xlsx", "Status", v.pick(rng, ("approved", "pending")), "purchase orders"),
            ("vendors.xlsx", "Country", v.pick(rng, ("DE", "FR", "ES")), "vendors"),
        ))  # fmt: skip
        slots = {"path": path, "column": column.lower(), "value": value, "what": what}
        return _fixed("read_sheet", {"path": path, "filters": {column: value}}, slots)

    def update_sheet(rng: random.Random, today: date) -> Filled:
        cid = f"EXP-00{rng.randrange(990, 999)}"
        status_value = v.pick(rng, ("approved", "paid", "rejected"))
        args = {
            "path": "expenses.xlsx",
            "key_column": "Claim ID",
            "key_value": cid,
            "values": {"Status": status_value},
        }
        return _fixed("update_sheet_row", args, {"id": cid, "status": status_value})

    def none(tool: str) -> Callable[[random.Random, date], Filled]:
        def fill(rng: random.Random, today: date) -> Filled:
            return _fixed(tool, {})

        return fill

    return [
        Intent("list_forms", ("list_forms",), (
            "which forms can I fill in?", "what forms are there", "list the forms", "show me all forms please",
            "what kind of forms do you have?", "forms?", "which requests can I submit here?", "give me the list of forms",
        ), none("list_forms")),
        Intent("describe_form", ("describe_form",), (
            "what fields does the {form} form have?", "what do I need to fill in for a {form}?", "describe the {form} form",
            "which information does the {form} form ask for?", "show me the fields of the {form} form",
            "what goes into a {form}?", "explain the {form} form to me", "{form} form: what are the fields?",
        ), describe_form),
        Intent("get_submission", ("get_submission",), (
            "look up submission {id}", "show me what was submitted in {id}", "what are the values of submission {id}?",
            "open submission {id}", "find the form submission {id}", "details of submitted form {id}",
        ), submission),
        Intent("process_status", ("process_status",), (
            "where does {id} stand?", "has {id} been approved yet?", "what's the status of {id}?",
            "is {id} still waiting for someone?", "status update on {id} please", "what is {id} waiting for?",
        ), status),
        Intent("list_processes", ("list_processes",), (
            "which processes can you run?", "what workflows are available?", "list the processes",
            "what business processes do you automate?", "show me the processes", "which processes can I start?",
        ), none("list_processes")),
        Intent("describe_process", ("describe_process",), (
            "what inputs does the {process} process need?", "describe the {process} process",
            "which steps does {process} have?", "walk me through the {process} process",
            "what are the approvals in the {process} process?", "explain the {process} workflow",
        ), describe_process),
        Intent("read_sheet", ("read_sheet",), (
            "show me the {what} in {path} where {column} is {value}", "list {what} with {column} {value} from {path}",
            "which rows of {path} have {column} = {value}?", "read {path}, only {column} {value}",
            "find the {what} in {path} whose {column} is {value}", "{path}: rows where {column} is {value}",
        ), read_sheet),
        Intent("update_sheet_row", ("update_sheet_row",), (
            "mark claim {id} as {status} in expenses.xlsx", "set the status of {id} to {status} in the expense ledger",
            "update {id} in expenses.xlsx: status {status}", "change claim {id} to {status}",
            "in expenses.xlsx, {id} is now {status}", "please record {id} as {status} in expenses.xlsx",
            "expense ledger: set {id} to {status}", "{id} should be {status} in expenses.xlsx, please update the row",
            "write status {status} for claim {id} in the ledger",
        ), update_sheet),
        Intent("list_sheets", ("list_sheets",), (
            "what spreadsheets do we have?", "list the sheets", "which spreadsheet files are there?",
            "show me the available spreadsheets", "what xlsx files can you read?", "which ledgers exist?",
        ), none("list_sheets")),
        Intent("list_email_templates", ("list_email_templates",), (
            "which email templates are there?", "list the email templates", "what mail templates can I use?",
            "show me the email templates", "what templates do you have for emails?", "email templates?",
        ), none("list_email_templates")),
    ]  # fmt: skip


def _email_intent(tool: str, verb: tuple[str, ...]) -> Intent:
    subjects = (
        "Invoice INV-2231",
        "Team lunch on Friday",
        "Laptop return",
        "Quarterly close",
        "Visitor badge",
    )
    bodies = ("Please find the invoice attached.", "Lunch is at 12:30 in the canteen.", "I will return my laptop on Monday.",
              "The close starts on the 20th.", "Please prepare a badge for our visitor.")  # fmt: skip
    mailboxes = (
        "finance@acme.example",
        "hr@acme.example",
        "procurement@acme.example",
        "travel@acme.example",
        "it-helpdesk@acme.example",
    )

    def fill(rng: random.Random, today: date) -> Filled:
        i = rng.randrange(len(subjects))
        to = v.pick(rng, mailboxes)
        args = {"to": [to], "subject": subjects[i], "body": bodies[rng.randrange(len(bodies))]}
        return {"to": to, "subject": args["subject"], "body": args["body"]}, {
            "tool": tool,
            "args": args,
        }

    templates = tuple(t.replace("{verb}", w) for t in (
        "{verb} an email to {to} with subject \"{subject}\" saying \"{body}\"",
        "{verb} a mail to {to}, subject: {subject}, text: {body}",
        "please {verb} {to} an email. Subject {subject}. Body: {body}",
        "{verb} to {to} - subject \"{subject}\" - \"{body}\"",
    ) for w in verb)  # fmt: skip
    return Intent(tool, (tool,), templates, fill)


DOC_TOPICS = (
    "onboard a new vendor", "claim back a taxi receipt", "report a security incident", "book a business trip",
    "get a purchase order approved", "request admin access", "carry over unused leave days", "get paid for an expense",
    "report a personal data breach", "approve a supplier invoice", "keep job applications",
)  # fmt: skip


def _docs_intent() -> Intent:
    def fill(rng: random.Random, today: date) -> Filled:
        topic = v.pick(rng, DOC_TOPICS)
        return _fixed("search_process_docs", {"query": topic}, {"topic": topic})

    return Intent("search_process_docs", ("search_process_docs",), (
        "how do I {topic}?", "what is the policy to {topic}?", "explain how to {topic}",
        "where can I read how to {topic}?", "what are the rules to {topic}?",
        "I don't know how to {topic}, can you check the docs?", "what does the handbook say about how to {topic}?",
        "can you look up how we {topic}?", "tell me how to {topic}", "what's the procedure to {topic}?",
        "what steps do I follow to {topic}?", "could you explain how we {topic}?", "is there a guideline on how to {topic}?",
        "what is the process to {topic}?",
    ), fill)  # fmt: skip


def workspace_intents(
    form_titles: Mapping[str, str], form_process: Mapping[str, str], processes: list[str]
) -> list[Intent]:
    """Every intent for these forms (name -> title) and processes (form -> wrapping process)."""
    intents: list[Intent] = []
    for form in form_titles:
        if form in FORM_SAMPLERS:
            intents.append(_form_intent(form, form_process.get(form)))
            intents.append(_clarify_intent(form, form_process.get(form)))
    intents.append(_docs_intent())
    intents += _lookup_intents(form_titles, processes or ["expense_reimbursement"])
    intents.append(_email_intent("send_email", ("send", "write")))
    intents.append(_email_intent("draft_email", ("draft", "prepare")))
    return intents
