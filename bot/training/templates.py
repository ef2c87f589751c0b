"""Request templates per intent: how people ask, and the tool call (or question) that answers them.

An ``Intent`` has phrasings (templates with ``{slots}``) and a ``fill`` that draws realistic
values and returns the slots with the gold outcome: a tool call with exact arguments, or a
clarifying question when the request leaves a required value out. Splits are made by template,
so the held-out test measures phrasings the model never saw. Form requests go to
``start_process`` when a process wraps that form, else to ``submit_form``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.training import values as v

Gold = dict[str, Any]  # {"tool": name, "args": {...}} or {"ask": question, "missing": field}
Filled = tuple[dict[str, str], Gold]


@dataclass(frozen=True)
class Intent:
    """One thing people ask for, its phrasings, and how to draw values and the gold outcome."""

    name: str
    tools: tuple[str, ...]  # every tool the gold may name; the intent is skipped without them
    templates: tuple[str, ...]
    fill: Callable[[random.Random, date], Filled]
    form: str | None = None  # the form whose fields the request fills, if any
    extra: dict[str, Any] = field(default_factory=dict)


# ---- form requests --------------------------------------------------------------------------


def _expense(rng: random.Random, today: date) -> tuple[dict[str, str], dict[str, Any]]:
    category = v.pick(rng, tuple(v.EXPENSES))
    description = v.pick(rng, v.EXPENSES[category])
    amount = v.an_amount(rng, 8, 120 if category != "lodging" else 400)
    _, when = v.a_date(rng, today)
    slots = {
        "amount": amount.said,
        "expense_date": when.said,
        "description": description,
        "project": "",
        "receipt": "",
    }
    gold: dict[str, Any] = {
        "expense_date": when.gold,
        "category": category,
        "amount": amount.gold,
        "description": description,
    }
    if rng.random() < 0.4:
        code = v.a_code(rng, "PRJ-", 4)
        slots["project"] = v.pick(
            rng, (f", project {code}", f" (project code {code})", f", charge it to {code}")
        )
        gold["project_code"] = code
    if rng.random() < 0.4:
        slots["receipt"] = v.pick(
            rng, (", receipt attached", " - I have the receipt", ", receipt is attached")
        )
        gold["receipt_attached"] = True
    return slots, gold


LEAVE_WORDS = {
    "annual": ("annual leave", "vacation", "holiday"),
    "sick": ("sick leave",),
    "parental": ("parental leave",),
    "unpaid": ("unpaid leave",),
    "compassionate": ("compassionate leave",),
    "training": ("training leave",),
}


def _leave(rng: random.Random, today: date) -> tuple[dict[str, str], dict[str, Any]]:
    kind = v.pick(rng, tuple(LEAVE_WORDS))
    start, start_said = v.a_date(rng, today, (3, 60))
    length = rng.randint(1, 10)
    _, end_said = v.a_date(rng, start, (length - 1, length - 1))
    days = v.plain_number(length if rng.random() < 0.85 else length - 0.5)
    slots = {
        "leave_word": v.pick(rng, LEAVE_WORDS[kind]),
        "start_date": start_said.said,
        "end_date": end_said.said,
        "days": str(days),
        "note": "",
    }
    gold: dict[str, Any] = {
        "leave_type": kind,
        "start_date": start_said.gold,
        "end_date": end_said.gold,
        "days": days,
    }
    if rng.random() < 0.3:
        note = v.pick(rng, v.LEAVE_NOTES)
        slots["note"] = v.pick(rng, (f", note: {note}", f" (reason: {note})"))
        gold["note"] = note
    return slots, gold


def _vendor(rng: random.Random, today: date) -> tuple[dict[str, str], dict[str, Any]]:
    name, vat, country, email = v.pick(rng, v.VENDORS)
    category = v.VENDOR_CATEGORY[name.split()[0]]
    contact = v.pick(rng, v.PEOPLE)
    spend = v.an_amount(rng, 2000, 250000, cents=False)
    iban = f"{country}{rng.randrange(10, 99)}{rng.randrange(10**17, 10**18)}"
    slots = {"legal_name": name, "vat_id": vat, "country": country, "contact_name": contact, "contact_email": email,
             "category": category.replace("_", " "), "expected_annual_spend": spend.said, "iban": iban}  # fmt: skip
    gold = {"legal_name": name, "vat_id": vat, "country": country, "contact_name": contact, "contact_email": email,
            "category": category, "expected_annual_spend": spend.gold, "iban": iban}  # fmt: skip
    return slots, gold


def _purchase(rng: random.Random, today: date) -> tuple[dict[str, str], dict[str, Any]]:
    vendor = v.pick(rng, v.VENDORS)[0]
    what = v.pick(rng, v.PURCHASES)
    amount = v.an_amount(rng, 1000, 40000, cents=False)
    center = v.a_code(rng, "CC-", 3)
    slots = {
        "vendor": vendor,
        "description": what,
        "amount": amount.said,
        "cost_center": center,
        "quotes": "",
        "needed_by": "",
    }
    gold: dict[str, Any] = {
        "vendor": vendor,
        "description": what,
        "amount": amount.gold,
        "cost_center": center,
    }
    if rng.random() < 0.35:
        quotes = rng.randint(1, 4)
        slots["quotes"] = f", {quotes} quote{'s' if quotes > 1 else ''}"
        gold["quotes"] = quotes
    if rng.random() < 0.35:
        _, by = v.a_date(rng, today, (7, 60))
        slots["needed_by"] = f", needed by {by.said}"
        gold["needed_by"] = by.gold
    return slots, gold


SYSTEM_WORDS = {"email": "email", "erp": "the ERP", "crm": "the CRM", "hr_portal": "the HR portal",
                "vpn": "the VPN", "github": "GitHub", "finance_reporting": "finance reporting"}  # fmt: skip


def _access(rng: random.Random, today: date) -> tuple[dict[str, str], dict[str, Any]]:
    system = v.pick(rng, tuple(SYSTEM_WORDS))
    level = v.pick(rng, ("read", "write", "admin"))
    why = v.pick(rng, v.JUSTIFICATIONS)
    slots = {
        "system": SYSTEM_WORDS[system],
        "access_level": level,
        "justification": why,
        "until": "",
    }
    gold: dict[str, Any] = {"system": system, "access_level": level, "justification": why}
    if rng.random() < 0.3:
        _, until = v.a_date(rng, today, (30, 200))
        slots["until"] = f" until {until.said}"
        gold["until"] = until.gold
    return slots, gold


FORM_SAMPLERS: dict[str, Callable[[random.Random, date], tuple[dict[str, str], dict[str, Any]]]] = {
    "expense_claim": _expense, "leave_request": _leave, "vendor_onboarding": _vendor,
    "purchase_request": _purchase, "it_access": _access,
}  # fmt: skip

FORM_TEMPLATES: dict[str, tuple[str, ...]] = {
    "expense_claim": (
        "file my expense: {amount} on {expense_date} for {description}{project}{receipt}",
        "I spent {amount} on {description} on {expense_date}{project}{receipt}, please claim it back",
        "expense claim: {description}, {amount}, date {expense_date}{project}{receipt}",
        "can you submit a claim for {description}? It was {amount} on {expense_date}{project}{receipt}",
        "on {expense_date} I paid {amount} for {description}{receipt}{project}. Reimburse me please",
        "claim {amount} for {description} ({expense_date}){project}{receipt}",
        "please get me reimbursed: {description}, {expense_date}, {amount}{project}{receipt}",
        "new expense - {amount} - {description} - {expense_date}{project}{receipt}",
        "I need to expense {description} from {expense_date}, total {amount}{receipt}{project}",
        "record my expense of {amount} for {description}, paid {expense_date}{project}{receipt}",
    ),
    "leave_request": (
        "I'd like {leave_word} from {start_date} to {end_date}, {days} days{note}",
        "request {days} days of {leave_word} from {start_date} until {end_date}{note}",
        "book {leave_word} for me: {start_date} - {end_date} ({days} working days){note}",
        "can I take {leave_word} {start_date} to {end_date}? that's {days} days{note}",
        "leave request: {leave_word}, start {start_date}, end {end_date}, {days} days{note}",
        "please put in {leave_word} starting {start_date} and ending {end_date}, {days} days{note}",
        "I need {days} days off ({leave_word}) from {start_date} through {end_date}{note}",
        "{leave_word} {start_date} to {end_date}, {days} days in total{note}",
        "submit my {leave_word}: from {start_date}, back after {end_date}, {days} days{note}",
        "I'm taking {leave_word} between {start_date} and {end_date} ({days} days){note}",
    ),
    "vendor_onboarding": (
        "onboard a new vendor: {legal_name}, VAT {vat_id}, country {country}, contact {contact_name} <{contact_email}>, category {category}, expected spend {expected_annual_spend} a year, IBAN {iban}",
        "please register supplier {legal_name} ({country}, VAT id {vat_id}); {category}; contact {contact_name}, {contact_email}; about {expected_annual_spend} per year; IBAN {iban}",
        "new supplier {legal_name}. VAT: {vat_id}. Country: {country}. Contact: {contact_name} ({contact_email}). Category: {category}. Annual spend: {expected_annual_spend}. IBAN: {iban}",
        "we want to buy from {legal_name}, a {category} vendor in {country} (VAT {vat_id}), roughly {expected_annual_spend} per year; the contact is {contact_name} at {contact_email}, bank IBAN {iban}. Onboard them",
        "set up vendor {legal_name} with VAT id {vat_id}, country {country}, IBAN {iban}, contact {contact_name} / {contact_email}, {category}, spend {expected_annual_spend}",
        "add {legal_name} as a supplier: {category}, {country}, VAT {vat_id}, IBAN {iban}, expected annual spend {expected_annual_spend}, contact person {contact_name} ({contact_email})",
        "vendor onboarding for {legal_name} - contact {contact_name}, {contact_email} - VAT {vat_id} - {country} - {category} - {expected_annual_spend}/year - IBAN {iban}",
        "can you onboard {legal_name}? VAT number {vat_id}, based in {country}, category {category}, we expect {expected_annual_spend} a year, contact {contact_name} ({contact_email}), IBAN {iban}",
    ),
    "purchase_request": (
        "I need a purchase order for {description} from {vendor}, {amount}, cost center {cost_center}{quotes}{needed_by}",
        "please raise a PO: {vendor}, {description}, {amount}, {cost_center}{quotes}{needed_by}",
        "purchase request for {description} at {vendor} costing {amount}, charge {cost_center}{needed_by}{quotes}",
        "can you order {description} from {vendor}? total {amount} on cost center {cost_center}{quotes}{needed_by}",
        "we want to buy {description} from {vendor} for {amount} (cost center {cost_center}){quotes}{needed_by}",
        "PO please - vendor {vendor} - {description} - {amount} - {cost_center}{needed_by}{quotes}",
        "request a purchase of {amount} from {vendor} for {description}, cost center {cost_center}{quotes}{needed_by}",
        "buy {description} from {vendor}: {amount}, cost centre {cost_center}{quotes}{needed_by}",
    ),
    "it_access": (
        "I need {access_level} access to {system}{until} because {justification}",
        "please give me {access_level} access on {system}{until}; {justification}",
        "request {system} access, level {access_level}{until} - reason: {justification}",
        "can I get {access_level} rights for {system}{until}? {justification}",
        "access request: {system}, {access_level}{until}, why: {justification}",
        "grant me {access_level} permissions in {system}{until}, {justification}",
        "I'd like {access_level} access to {system}{until} since {justification}",
        "{system} {access_level} access please{until} ({justification})",
    ),
}

POLITE_PREFIX = ("", "", "", "hi, ", "hello! ", "please ", "hey, ", "good morning, ")
POLITE_SUFFIX = ("", "", "", " thanks", ", thank you!", " pls", " :)", ". Thanks a lot")
