"""The financial report as a PDF, drawn with fpdf2: the totals per currency, registrations by
status, and a revenue-by-day bar chart.

Deterministic: the creation date is the report's own end instant (never the clock) and the
file id is fpdf2's hash of the content, so the same figures give the same bytes. The core fonts
(Helvetica) hold Latin-1 only: other characters of ids are written as ``?``.
"""

from __future__ import annotations

from fpdf import FPDF

from townsquare.core.reports.models import MoneyTotals, ProducerStats

_CHART_WIDTH = 180.0
_CHART_HEIGHT = 60.0
_FIGURES = ("gross", "discounts", "captured", "voided", "refunded", "pending", "net")


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _amount(money: MoneyTotals, figure: str) -> int:
    value: int = getattr(money, figure)
    return value


class FpdfReportRenderer:
    """Implements :class:`townsquare.core.reports.ports.ReportRenderer` with fpdf2."""

    def financial_report(self, stats: ProducerStats, *, title: str) -> bytes:
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_creation_date(stats.range.end)
        pdf.set_title(_latin1(title))
        pdf.set_author("townsquare")
        pdf.set_creator("townsquare reports")
        pdf.set_producer("townsquare reports")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        days = stats.range
        covered = f"{days.first_day.isoformat()} to {days.last_day.isoformat()} ({_latin1(days.time_zone)})"
        pdf.cell(0, 6, f"Registrations made {covered}", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(
            0, 6, "Amounts in minor units (cents), summed from the earnings ledger.", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.ln(4)
        self._totals(pdf, stats)
        pdf.ln(4)
        self._statuses(pdf, stats)
        pdf.ln(6)
        self._chart(pdf, stats)
        return bytes(pdf.output())

    def _totals(self, pdf: FPDF, stats: ProducerStats) -> None:
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, "Totals", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        if not stats.money:
            pdf.cell(0, 6, "No money in this range.", new_x="LMARGIN", new_y="NEXT")
        for money in stats.money:
            for figure in _FIGURES:
                pdf.cell(40, 6, f"{money.currency} {figure}")
                pdf.cell(40, 6, str(_amount(money, figure)), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(40, 6, "tickets")
        pdf.cell(40, 6, str(stats.tickets), align="R", new_x="LMARGIN", new_y="NEXT")

    def _statuses(self, pdf: FPDF, stats: ProducerStats) -> None:
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, "Registrations by status", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for status, count in stats.registrations.items():
            pdf.cell(40, 6, status)
            pdf.cell(40, 6, str(count), align="R", new_x="LMARGIN", new_y="NEXT")

    def _chart(self, pdf: FPDF, stats: ProducerStats) -> None:
        """Gross revenue per day of the first currency, one bar a day."""
        pdf.set_font("Helvetica", "B", 12)
        currency = stats.money[0].currency if stats.money else None
        pdf.cell(0, 8, f"Revenue by day (gross{', ' + currency if currency else ''})", new_x="LMARGIN", new_y="NEXT")
        values = [sum(m.gross for m in day.money if m.currency == currency) for day in stats.days]
        top = max(values, default=0)
        left, base = pdf.l_margin, pdf.get_y() + _CHART_HEIGHT
        pdf.set_draw_color(0, 0, 0)
        pdf.line(left, base, left + _CHART_WIDTH, base)
        width = _CHART_WIDTH / max(len(values), 1)
        pdf.set_fill_color(60, 110, 180)
        for index, value in enumerate(values):
            if value > 0 and top > 0:
                height = _CHART_HEIGHT * value / top
                pdf.rect(left + index * width, base - height, max(width * 0.8, 0.2), height, style="F")
        pdf.set_font("Helvetica", "", 8)
        pdf.set_xy(left, base + 1)
        first, last = stats.range.first_day.isoformat(), stats.range.last_day.isoformat()
        pdf.cell(_CHART_WIDTH / 2, 4, first)
        pdf.cell(_CHART_WIDTH / 2, 4, last, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 4, f"highest day: {top}", new_x="LMARGIN", new_y="NEXT")
