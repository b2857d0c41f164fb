"""CSV downloads as French Excel opens them: ``;`` between fields, decimal comma, CRLF line ends, a UTF-8
byte-order mark, dates and times in Europe/Paris (``31/12/2026 23:00``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import Response

PARIS = ZoneInfo("Europe/Paris")


def cell(value: Any, places: int | None = None) -> str:
    """One field: "" for nothing, "12,5" for a number (``places`` decimals when given), dates in French."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float | Decimal | int) and not isinstance(value, bool):
        text = f"{value:.{places}f}" if places is not None else (str(value) if isinstance(value, int) else f"{value:g}")
        return text.replace(".", ",")
    return str(value)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Response:
    """A download of ``rows`` (already formatted with :func:`cell`) under ``header``."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(("\ufeff" + out.getvalue()).encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
