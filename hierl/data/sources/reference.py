"""Reference series shared by every source: US macro (CPI, credit yields, Fama-French factors) and VIX.

They ship inside the `arch` package. Each is returned by its reference period (`period`: the first day of the
month for monthly series, the day itself for daily ones); when it becomes known is the feature builders'
business (release lags), not this module's.
"""

from __future__ import annotations

from importlib.metadata import version

import pandas as pd
import polars as pl


def reference_identity() -> str:
    return f"reference:arch={version('arch')}"


def _long(frame: pd.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    out = pl.from_pandas(frame.reset_index(names="period")).with_columns(pl.col("period").cast(pl.Date))
    return out.unpivot(index="period", on=list(columns), variable_name="series", value_name="value").with_columns(
        pl.col("series").replace_strict(columns), pl.col("value").cast(pl.Float64)
    )


def _decode_french_index(frame: pd.DataFrame) -> pd.DataFrame:
    """arch stores the Fama-French month as the integer YYYYMM in nanoseconds since the epoch; decode it."""
    yyyymm = frame.index.asi8
    periods = pd.to_datetime({"year": yyyymm // 100, "month": yyyymm % 100, "day": 1})
    return frame.set_axis(pd.DatetimeIndex(periods), axis=0)


def load_reference_series() -> pl.DataFrame:
    """Long table `series`, `period` (Date), `value`; Fama-French and yields are in percent as published."""
    from arch.data import core_cpi, default, frenchdata, vix

    parts = [
        _long(core_cpi.load(), {"CPILFESL": "core_cpi"}),
        _long(default.load(), {"AAA": "aaa", "BAA": "baa"}),
        _long(
            _decode_french_index(frenchdata.load()),
            {"Mkt-RF": "ff_mkt", "SMB": "ff_smb", "HML": "ff_hml", "RF": "ff_rf"},
        ),
        _long(vix.load(), {"vix": "vix"}),
    ]
    table = pl.concat(parts).filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    return table.sort("series", "period")
