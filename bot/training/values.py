"""Realistic values for generated requests, drawn from the demo company's canonical facts.

Each sampler returns what the person writes (``said``) and what the tool call must carry
(``gold``): "42.50 euros" is said, ``42.5`` is the gold amount; "14 March 2026" is said,
``"2026-03-14"`` is the gold date. Formats vary so the model learns to normalise them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

PEOPLE = (
    "Lena Vogel", "Marc Dubois", "Jonas Becker", "Claire Martin", "Lucía García", "Anna Schmidt",
    "Tobias Wagner", "Camille Laurent", "Javier Moreno", "Sofia Romero", "Felix Hoffmann",
)  # fmt: skip

EXPENSES: dict[str, tuple[str, ...]] = {
    "travel": ("train ticket Berlin to Lyon", "flight to Madrid for the supplier audit", "rail pass for the trade fair"),
    "meals": ("lunch with the Lyon sales team", "dinner during the Madrid workshop", "team breakfast before the audit"),
    "lodging": ("hotel in Lyon for two nights", "hotel near the Madrid office", "one night in Hamburg for the fair"),
    "transport": ("taxi from Lyon airport to the customer site", "taxi to Berlin Hauptbahnhof", "parking at the airport"),
    "office_supplies": ("printer toner for the Berlin office", "notebooks and pens for onboarding", "a USB-C dock"),
    "training": ("online course on Excel modelling", "forklift safety certification", "German language course"),
    "client_entertainment": ("dinner with Stahlwerk Brandenburg", "lunch with the Iberia Logistica team", "coffee with a client in Lyon"),
    "other": ("visa fee for the India trip", "courier for signed contracts", "replacement phone charger"),
}  # fmt: skip

VENDORS = (
    ("Stahlwerk Brandenburg GmbH", "DE811234567", "DE", "vertrieb@stahlwerk-brandenburg.example"),
    ("Transports Rhône SARL", "FR40123456789", "FR", "contact@transports-rhone.example"),
    ("Iberia Logistica SL", "ESB12345678", "ES", "ventas@iberia-logistica.example"),
    ("Nordlicht IT Services GmbH", "DE298765432", "DE", "hello@nordlicht-it.example"),
    ("Atelier Lumière SAS", "FR77987654321", "FR", "bonjour@atelier-lumiere.example"),
    ("Metales del Sur SA", "ESA87654321", "ES", "comercial@metales-sur.example"),
    ("Kanzlei Weber & Partner", "DE312345678", "DE", "office@weber-partner.example"),
    ("CleanPro Facility Services GmbH", "DE276543210", "DE", "service@cleanpro.example"),
)  # fmt: skip

VENDOR_CATEGORY = {
    "Stahlwerk": "raw_materials", "Transports": "logistics", "Iberia": "logistics",
    "Nordlicht": "it_services", "Atelier": "professional_services", "Metales": "raw_materials",
    "Kanzlei": "professional_services", "CleanPro": "facilities",
}  # fmt: skip

PURCHASES = (
    "cold-rolled steel sheet, 12 t", "two pallets of packaging film", "laptop docking stations for IT",
    "forklift maintenance for the Lyon warehouse", "safety gloves for the Madrid depot",
    "a 3D printer for the design team", "annual license for the CAD software", "office chairs for Berlin",
)  # fmt: skip

JUSTIFICATIONS = (
    "I run the monthly close", "I joined the procurement team", "I review supplier contracts",
    "I work on the customer migration", "I maintain the deployment scripts", "I prepare payroll reports",
)  # fmt: skip

LEAVE_NOTES = (
    "family wedding",
    "moving house",
    "doctor's appointment",
    "school holidays",
    "conference in Madrid",
)


@dataclass(frozen=True)
class Said:
    """A value as the person writes it and as the tool call must carry it."""

    said: str
    gold: Any


def pick(rng: random.Random, items: tuple[Any, ...] | list[Any]) -> Any:
    return items[rng.randrange(len(items))]


def a_date(
    rng: random.Random, today: date, ahead: tuple[int, int] = (-25, -1)
) -> tuple[date, Said]:
    """A date some days from ``today``, written as ISO or as '14 March 2026'."""
    day = today + timedelta(days=rng.randint(*ahead))
    return day, Said(written_date(rng, day), day.isoformat())


def written_date(rng: random.Random, day: date) -> str:
    style = rng.random()
    if style < 0.6:
        return day.isoformat()
    if style < 0.85:
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def plain_number(value: float) -> int | float:
    """42.0 -> 42 (what a person means and what JSON shows), 42.5 stays."""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def an_amount(rng: random.Random, low: float, high: float, cents: bool = True) -> Said:
    """A EUR amount written in one of the ways people write money."""
    value = round(rng.uniform(low, high), 2 if cents and rng.random() < 0.5 else 0)
    gold = plain_number(value)
    text = f"{value:,.2f}" if not float(gold).is_integer() else f"{int(gold):,}"
    if rng.random() < 0.5:
        text = text.replace(",", "")
    style = rng.randrange(4)
    said = (f"{text} EUR", f"€{text}", f"{text} euros", f"EUR {text}")[style]
    return Said(said, gold)


def a_code(rng: random.Random, prefix: str, digits: int) -> str:
    return f"{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"
