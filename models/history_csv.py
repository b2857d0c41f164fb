"""Parsing the history format of the backtest (pure: text in, frame out).

Columns ``timestamp,heat_load_mw,outdoor_temperature_c``; ISO 8601 timestamps with offset; an empty
cell is a missing value. Bad rows are reported with their line, nothing is silently dropped.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from models.errors import ModelError

COLUMNS = ("timestamp", "heat_load_mw", "outdoor_temperature_c")


def parse_history_csv(text: str, source: str = "history") -> pd.DataFrame:
    """A frame indexed by UTC-aware timestamps (in their own offset) with ``load`` and ``temperature``.

    Raises:
        ModelError: naming the file, line and column of every bad cell (up to 20), or a missing column.
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or any(c not in reader.fieldnames for c in COLUMNS):
        raise ModelError(f"{source}: the header must have the columns {', '.join(COLUMNS)}")
    stamps, loads, temps, errors = [], [], [], []
    for row in reader:
        line = reader.line_num
        try:
            ts = pd.Timestamp(row["timestamp"])
            if ts.tzinfo is None:
                raise ValueError("no UTC offset")
        except ValueError as exc:
            errors.append(f"{source}:{line}: timestamp {row['timestamp']!r}: {exc}")
            continue
        values = []
        for col in ("heat_load_mw", "outdoor_temperature_c"):
            cell = (row[col] or "").strip()
            try:
                values.append(float(cell) if cell else np.nan)
            except ValueError:
                errors.append(f"{source}:{line}: {col} {cell!r} is not a number")
                values.append(np.nan)
        if values[0] < 0:
            errors.append(f"{source}:{line}: heat_load_mw {values[0]} is negative")
        stamps.append(ts)
        loads.append(values[0])
        temps.append(values[1])
    if errors:
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        raise ModelError("bad history rows:\n  " + "\n  ".join(errors[:20]) + more)
    if not stamps:
        raise ModelError(f"{source}: no rows")
    index = pd.DatetimeIndex(stamps)
    if index.tz is None:  # mixed offsets (DST): keep instants in UTC
        index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True))
    return pd.DataFrame({"load": loads, "temperature": temps}, index=index)
