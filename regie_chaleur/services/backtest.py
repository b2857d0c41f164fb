"""Wires the forecasting core's backtest to a history file: the evaluation protocol's command."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from models.backtest import backtest, metrics
from models.calendar import parse_school_holidays, public_holidays
from models.errors import ModelError
from models.forecast import ForecastConfig
from models.history_csv import parse_history_csv
from regie_chaleur.errors import RegieError


def read_school_holidays(path: Path | None) -> frozenset[date]:
    """The school-holiday days of a ``start,end[,description]`` CSV (none without a file).

    Raises:
        RegieError: the file cannot be read, or a bad row (named by line).
    """
    if path is None:
        return frozenset()
    try:
        return frozenset(parse_school_holidays(path.read_text(encoding="utf-8"), str(path)))
    except OSError as exc:
        raise RegieError(f"cannot read {path}: {exc.strerror}") from exc
    except ModelError as exc:
        raise RegieError(str(exc)) from exc


def run_backtest(history_file: Path, test_start: date, test_end: date, out: Path, temperature_noise_k: float,
                 holidays_country: str | None, tz: str | None, refit_days: int,
                 school_holidays_file: Path | None = None) -> dict[str, float]:
    """The day-ahead protocol over a history file; writes the forecasts and returns the metrics."""
    school = read_school_holidays(school_holidays_file)
    try:
        history = parse_history_csv(history_file.read_text(encoding="utf-8"), str(history_file))
    except OSError as exc:
        raise RegieError(f"cannot read {history_file}: {exc.strerror}") from exc
    except ModelError as exc:
        raise RegieError(str(exc)) from exc
    years = range(history.index[0].year - 1, history.index[-1].year + 2)
    holidays = frozenset(public_holidays(years, holidays_country)) if holidays_country else frozenset()
    config = ForecastConfig(tz=tz, holidays=holidays, school_holidays=school)
    try:
        forecasts = backtest(history, test_start, test_end, config, refit_days=refit_days,
                             temperature_noise_k=temperature_noise_k)
    except ModelError as exc:
        raise RegieError(str(exc)) from exc
    table = pd.DataFrame({
        "issued_at": [t.isoformat() for t in forecasts["issued_at"]],
        "timestamp": [t.isoformat() for t in forecasts["timestamp"]],
        "forecast_mw": forecasts["forecast"].round(3),
        "p10_mw": forecasts["p10"].round(3),
        "p90_mw": forecasts["p90"].round(3),
    })
    table.to_csv(out, index=False)
    return metrics(forecasts, history["load"])
