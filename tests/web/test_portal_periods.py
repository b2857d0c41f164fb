"""A delivery point changes occupant: each subscriber sees the point's data for the days of their own
contracts only, through the API, the pages' charts, the CSV export and the invoice's 13 months."""

from __future__ import annotations

import csv
import io
import math
from contextlib import closing
from datetime import date, timedelta

from billing.occupancy import change_occupant
from billing.periods import add_months
from regie_chaleur.db.database import Database
from tests.billing.support import ACTOR
from tests.support.auth import signed_in

LAST_DAY = date(2026, 11, 14)  # ABO-1 leaves PDL-0001; ABO-2 moves in on the 15th


def _history(db: Database) -> None:
    with db.pool.connection() as conn:
        device = conn.execute("SELECT id FROM devices WHERE code = 'DEV-0001'").fetchone()
        assert device is not None
        day, rows = date(2024, 10, 1), []
        while day <= date.today():
            t_mean = 11.5 - 8.5 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
            rows.append((device[0], day, 150 + 40 * max(0.0, 17 - t_mean), t_mean - 4, t_mean + 4, 24))
            day += timedelta(days=1)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO substation_daily (device_id, day, energy_kwh, t_outdoor_min, t_outdoor_max, "
                            "hours) VALUES (%s, %s, %s, %s, %s, %s)", rows)
        change_occupant(conn, "PDL-0001", LAST_DAY, {"number": "POL-0009", "subscriber": "ABO-2",
                                                    "category": "copropriete", "power_kw": "120"}, actor=ACTOR)


def test_each_occupant_sees_only_their_own_days(site: tuple[Database, str]) -> None:
    db, base = site
    _history(db)
    last = add_months(date.today().replace(day=1), -1)
    with closing(signed_in(base, "abonne-deux")) as newcomer, closing(signed_in(base, "abonne-un")) as leaver:
        mine = newcomer.get("/api/v1/me/consumption/monthly", params={"point": "PDL-0001"}).json()
        consumption = mine["series"][1]["values"]
        year_before = mine["series"][0]["values"]
        # the newcomer's months start with November (from the 15th); nothing before, nothing a year earlier
        months = [add_months(last, i - 12) for i in range(13)]
        assert [m for m, v in zip(months, consumption, strict=True) if v is not None] == \
            [m for m in months if m >= date(2026, 11, 1)]
        assert all(v is None for v in year_before)
        theirs = leaver.get("/api/v1/me/consumption/monthly", params={"point": "PDL-0001"}).json()
        assert [m for m, v in zip(months, theirs["series"][1]["values"], strict=True) if v is not None
                and m > date(2026, 11, 1)] == []  # nothing after the leaver's last day

        rows = list(csv.reader(io.StringIO(newcomer.get("/espace/export.csv").text.lstrip("\ufeff")), delimiter=";"))
        days = [date.fromisoformat(r[1]) for r in rows[1:] if r[0] == "PDL-0001"]
        assert days and min(days) == LAST_DAY + timedelta(days=1)
        rows = list(csv.reader(io.StringIO(leaver.get("/espace/export.csv").text.lstrip("\ufeff")), delimiter=";"))
        days = [date.fromisoformat(r[1]) for r in rows[1:] if r[0] == "PDL-0001"]
        assert days and max(days) == LAST_DAY

        daily = newcomer.get("/espace/donnees/journalier", params={"point": "PDL-0001", "days": 366}).json()
        shown = [v for v in daily["series"][0]["values"] if v is not None]
        assert 0 < len(shown) <= (date.today() - LAST_DAY).days
        assert all(v is None for v in daily["series"][1]["values"])  # a year earlier was someone else's
        page = newcomer.get("/espace", params={"point": "PDL-0001"})
        assert page.status_code == 200
