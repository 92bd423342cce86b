"""Exports, on both adapters: the registrations CSV round-trips through Python's csv module with
formula-like cells escaped, it is read a page at a time, the financial CSV's lines add up to the
report, and the PDF holds the same totals (read back with pypdf) and is the same bytes each time."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pypdf
import pytest
from tests.contract.test_reports import ALICE, OTHER, PRODUCER, bought, capture, make_event

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Forbidden, NotFound
from townsquare.core.identity import Actor
from townsquare.core.reports import service as reports_service
from townsquare.core.reports.export import FINANCIAL_HEADER, REGISTRATION_HEADER, csv_text, escape_cell

HOSTILE = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "Zoë 🎷 «ok»", 'say "hi", ok']
"""Attendee ids (printable, as user ids are) that a spreadsheet would run, or that need quoting."""


def parsed(chunks: object) -> list[list[str]]:
    text = "".join(chunks)  # type: ignore[call-overload]
    text.encode("utf-8")  # every chunk is text the host sends as UTF-8
    return list(csv.reader(io.StringIO(text, newline="")))


def test_cells_that_start_like_a_formula_are_escaped() -> None:
    assert [escape_cell(value) for value in [*HOSTILE, "\tTAB", "\rCR"]] == [
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "Zoë 🎷 «ok»",
        'say "hi", ok',
        "'\tTAB",
        "'\rCR",
    ]
    assert (escape_cell(-5), escape_cell(None), escape_cell("a=b")) == ("-5", "", "a=b")


def test_the_registrations_csv_round_trips_and_escapes_formulas(services: Services) -> None:
    # Given registrations by attendees whose ids look like formulas or hold any characters
    make_event(services)
    made = {}
    for n, attendee in enumerate(HOSTILE):
        made[attendee] = bought(services, Actor(attendee), f"k{n}", quantity=1 + n % 3)
    # When the producer exports them
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    rows = parsed(services.reports.export_registrations(PRODUCER, where))
    # Then the CSV parses back: a header, one row per registration, every field as it was
    assert tuple(rows[0]) == REGISTRATION_HEADER
    body = [dict(zip(REGISTRATION_HEADER, row, strict=True)) for row in rows[1:]]
    assert len(body) == len(HOSTILE)
    for row in body:
        attendee = row["attendee_id"]
        original = attendee[1:] if attendee.startswith("'") else attendee
        assert escape_cell(original) == attendee  # escaped exactly when it starts like a formula
        registration = made[original]
        assert row["registration_id"] == registration.registration_id
        assert (int(row["quantity"]), int(row["total"]), row["status"]) == (
            registration.quantity,
            registration.price.total,
            "confirmed",
        )
        assert row["created_at"].endswith("Z")
    assert {row["attendee_id"] for row in body if row["attendee_id"].startswith("'")} == {
        "'" + each for each in HOSTILE[:4]
    }


def test_the_registrations_csv_is_the_bytes_of_every_cell_escaped(
    services: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export writes plain rows and escapes only the cells a client chose: its bytes are the
    generic writer's (csv_text escapes every cell) over each registration's fields, as before."""
    monkeypatch.setattr(reports_service, "EXPORT_PAGE", 4)
    make_event(services)
    for n, attendee in enumerate([*HOSTILE, "plain"]):
        held = services.events.reserve(Actor(attendee), "jazz", "standard", 1 + n % 3, idempotency_key=f"k{n}")
        if n % 3:
            services.events.confirm(Actor(attendee), held.registration_id, idempotency_key=f"p{n}")
        if n == 2:
            services.events.refund(PRODUCER, held.registration_id, reason="r", idempotency_key="r")
        clock.advance(timedelta(minutes=7, microseconds=n * 13))  # instants with and without microseconds
    clock.advance(timedelta(hours=2))  # the holds lapse: they read as expired
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    now = clock.now()
    page = services.reports.registrations(PRODUCER, where, limit=100).registrations
    expected = csv_text(
        [
            REGISTRATION_HEADER,
            *[
                (
                    r.registration_id,
                    r.event_id,
                    r.type_id,
                    r.attendee_id,
                    r.status_at(now).value,
                    r.quantity,
                    r.price.currency,
                    r.price.unit_price,
                    r.price.subtotal,
                    r.price.discount,
                    r.price.total,
                    r.refunded,
                    r.discount_code,
                    r.created_at.isoformat().replace("+00:00", "Z"),
                )
                for r in page
            ],
        ]
    )
    assert "".join(services.reports.export_registrations(PRODUCER, where)) == expected
    assert "expired" in expected and "refunded" in expected and "'=cmd" in expected


def test_the_export_reads_a_page_at_a_time_and_lists_each_once(
    services: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 11 registrations and pages of 3
    monkeypatch.setattr(reports_service, "EXPORT_PAGE", 3)
    make_event(services)
    made = []
    for n in range(11):
        made.append(bought(services, Actor(f"fan-{n}"), f"k{n}"))
        clock.advance(timedelta(seconds=n % 2))  # ties on created_at too
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    # When the export is read chunk by chunk
    chunks = services.reports.export_registrations(PRODUCER, where)
    header = next(chunks)
    first_page = next(chunks)
    # a registration made after the export began is not in it (newest first, keyset)
    late = bought(services, Actor("late"), "late")
    rest = list(chunks)
    # Then it came as the header and one chunk per page of 3, each registration once
    assert len(rest) + 1 == 4
    rows = parsed([header, first_page, *rest])[1:]
    ids = [row[0] for row in rows]
    assert sorted(ids) == sorted(each.registration_id for each in made)
    assert late.registration_id not in ids
    assert len(set(ids)) == len(ids) == 11


def test_the_financial_csv_adds_up_to_the_pdf_and_the_stats(services: Services, clock: ManualClock) -> None:
    # Given captured, refunded (with a formula-like reason) and voided registrations over two days
    make_event(services)
    first = bought(services, ALICE, "a1", quantity=2)
    capture(services, first)
    services.events.refund(PRODUCER, first.registration_id, reason="=HYPERLINK(x)", idempotency_key="r", amount=700)
    clock.advance(timedelta(days=1))
    second = bought(services, Actor("bob"), "b1", type_id="vip")
    services.events.cancel(PRODUCER, second.registration_id)
    bought(services, Actor("carl"), "c1")
    arguments = {"first_day": date(2026, 1, 14), "last_day": date(2026, 1, 17), "time_zone": "Europe/Berlin"}
    stats = services.reports.producer_stats(PRODUCER, **arguments)  # type: ignore[arg-type]
    (money,) = stats.money
    # When the producer exports the financials
    rows = parsed(services.reports.export_financials(PRODUCER, **arguments))  # type: ignore[arg-type]
    assert tuple(rows[0]) == FINANCIAL_HEADER
    lines = [dict(zip(FINANCIAL_HEADER, row, strict=True)) for row in rows[1:]]
    # Then the lines by type are the report's totals, and by day its days
    by_type: dict[str, int] = {}
    for line in lines:
        by_type[line["type"]] = by_type.get(line["type"], 0) + int(line["amount"])
    assert by_type == {
        "earning": money.gross,
        "capture": money.captured,
        "refund": money.refunded,
        "void": money.voided,
    }
    assert {line["reason"] for line in lines if line["type"] == "refund"} == {"'=HYPERLINK(x)"}
    for day in stats.days:
        gross = sum(int(line["amount"]) for line in lines if line["type"] == "earning" and line["day"] == str(day.day))
        assert gross == sum(each.gross for each in day.money)
    # and the PDF's text holds the same totals
    document = services.reports.financial_report(PRODUCER, **arguments)  # type: ignore[arg-type]
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document)).pages)
    for figure, value in [
        ("gross", money.gross),
        ("captured", money.captured),
        ("refunded", money.refunded),
        ("voided", money.voided),
        ("net", money.net),
        ("pending", money.pending),
    ]:
        assert f"EUR {figure} {value}" in text, (figure, text)
    assert "Revenue by day" in text
    # and the same inputs give the same bytes, later too
    clock.advance(timedelta(hours=1))
    assert services.reports.financial_report(PRODUCER, **arguments) == document  # type: ignore[arg-type]
    # while other figures give other bytes
    one_day = {**arguments, "last_day": date(2026, 1, 15)}
    assert services.reports.financial_report(PRODUCER, **one_day) != document  # type: ignore[arg-type]


def test_exports_are_the_producers_own(services: Services) -> None:
    make_event(services)
    bought(services, ALICE, "a1")
    with pytest.raises(Forbidden):
        services.reports.export_registrations(OTHER, services.reports.registration_filter(PRODUCER))
    with pytest.raises(NotFound):
        services.reports.export_financials(OTHER, event_id="jazz")
    with pytest.raises(NotFound):
        services.reports.financial_report(OTHER, event_id="jazz")
    with pytest.raises(Forbidden):
        services.reports.financial_report(OTHER, producer_id=PRODUCER.user_id)
    assert parsed(services.reports.export_financials(OTHER))[1:] == []
