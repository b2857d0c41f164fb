"""Convert the Flensburg raw files (../shared/data/flensburg) to the backtest history format.

Heat load timestamps have no DST jumps: we read them as UTC+1 standard time (CET). Air temperature
stamps are UTC; the hour is joined on the instant. The duplicated temperature stamp keeps its first
value; missing temperature hours stay empty cells (the model interpolates short gaps).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flensburg"


def load_flensburg(folder: Path = DATA) -> pd.DataFrame:
    """Hourly frame (index in UTC+01:00) with ``load`` [MW] and ``temperature`` [°C]."""
    heat_file, air_file = folder / "heat-load-2014-2015.csv", folder / "air-temperature-2014-2015.csv"
    if not heat_file.exists() or not air_file.exists():
        raise SystemExit(f"Flensburg data not found in {folder} (expected ../shared/data/flensburg beside the "
                         "checkout); the forecast benchmark needs it")
    heat = pd.read_csv(heat_file)
    stamps = pd.to_datetime(heat["Datetime"], format="%d/%m/%y %H:%M").dt.tz_localize("Etc/GMT-1")
    load = pd.Series(heat["Overall heat load in MW"].to_numpy(float), index=stamps.dt.tz_convert("+01:00"))
    temps: dict[pd.Timestamp, float] = {}
    with air_file.open() as f:
        rows = csv.reader(f)
        next(rows)
        for (row,) in rows:
            fields = [x.strip('"') for x in row.split(",")]
            # yyyymmddHHMM; one stamp has a digit missing and reads as a duplicate of 2014-03-31 00:00
            ts = pd.Timestamp(datetime.strptime(fields[2], "%Y%m%d%H%M").replace(tzinfo=UTC))
            temps.setdefault(ts, float(fields[3]))
    temperature = pd.Series(temps).sort_index()
    temperature.index = temperature.index.tz_convert("+01:00")
    frame = pd.DataFrame({"load": load})
    frame["temperature"] = temperature.reindex(frame.index)
    return frame


def write_history_csv(frame: pd.DataFrame, path: Path) -> None:
    out = pd.DataFrame({
        "timestamp": [t.isoformat() for t in frame.index],
        "heat_load_mw": frame["load"].round(3),
        "outdoor_temperature_c": frame["temperature"],
    })
    out.to_csv(path, index=False, na_rep="")


if __name__ == "__main__":
    import sys

    write_history_csv(load_flensburg(), Path(sys.argv[1] if len(sys.argv) > 1 else "flensburg-history.csv"))
