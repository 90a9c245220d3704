"""WRF time stamps: the one parser and formatter every module uses (pure)."""
from __future__ import annotations

from datetime import datetime

WRF_TIME = "%Y-%m-%d_%H:%M:%S"


def parse_wrf_time(text: str) -> datetime:
    """'2000-01-24_12:00:00' as a datetime. Also accepts what else appears in practice: nocolons file names
    ('2000-01-24_12_00_00'), and the run object's ISO form ('2000-01-24T12:00:00Z'). ValueError otherwise."""
    t = text.strip().rstrip("Z")
    if len(t) >= 19 and t[10] in "T ":
        t = t[:10] + "_" + t[11:]
    if len(t) >= 19 and t[13] == "_" and t[16] == "_":  # nocolons=.true. writes '_' instead of ':'
        t = t[:13] + ":" + t[14:16] + ":" + t[17:]
    return datetime.strptime(t[:19], WRF_TIME)


def try_parse_wrf_time(text: object) -> datetime | None:
    """parse_wrf_time, or None for anything that is not a WRF time."""
    try:
        return parse_wrf_time(text)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return None


def format_wrf_time(when: datetime) -> str:
    """A datetime as WRF writes it (year zero-padded to 4 digits: ideal cases run in year 0001)."""
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d}_{when.hour:02d}:{when.minute:02d}:"
            f"{when.second:02d}")


def iso_time(when: datetime) -> str:
    """ISO 8601 UTC for the run object."""
    return format_wrf_time(when).replace("_", "T") + "Z"
