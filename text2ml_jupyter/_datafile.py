"""Reading a data file: CSV (optionally compressed), TSV or Parquet, by its name's ending.

One reader for the engine (``run(task, "data.csv")``), the command line and the magic's
``--data PATH``; every failure is a one-line ``Text2MLError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Text2MLError

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = (".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".csv.zst", ".csv")
TSV_SUFFIXES = (".tsv.gz", ".tsv", ".tab")  # tab-separated, read like CSV
PARQUET_SUFFIXES = (".parquet", ".pq")


def data_suffix(path: Path) -> str | None:
    """The recognized ending of a data file name (lower case), or None."""
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + TSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def load_data(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; every failure is a one-line ``Text2MLError``."""
    import pandas as pd

    suffix = data_suffix(path)
    if suffix is None:
        raise Text2MLError(
            f"cannot read {str(path)!r}: unsupported file type "
            f"(use a .csv, .csv.gz, .tsv or .parquet file)")
    if not path.exists():
        raise Text2MLError(f"data file not found: {str(path)!r}")
    if not path.is_file():
        raise Text2MLError(f"cannot read {str(path)!r}: not a file")

    try:
        if suffix in PARQUET_SUFFIXES:
            data = pd.read_parquet(path)
        elif suffix in TSV_SUFFIXES:
            data = pd.read_csv(path, sep="\t")
        else:
            data = pd.read_csv(path)
    except ImportError as exc:
        raise Text2MLError(
            f"reading {str(path)!r} needs pyarrow ({first_line(exc)}); "
            f"install it with: pip install 'text2ml-jupyter[parquet]'") from None
    except pd.errors.EmptyDataError:
        raise Text2MLError(f"cannot read {str(path)!r}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise Text2MLError(
            f"cannot read {str(path)!r}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            f"save it as UTF-8 CSV") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        # pyarrow's ArrowInvalid is a ValueError; ParserError too, listed for clarity.
        raise Text2MLError(f"cannot read {str(path)!r}: {first_line(exc)}") from None
    except Exception as exc:  # any other reader failure is still the file's problem
        raise Text2MLError(
            f"cannot read {str(path)!r}: {type(exc).__name__}: {first_line(exc)}") from None

    if data.shape[0] == 0 or data.shape[1] == 0:
        raise Text2MLError(
            f"cannot use {str(path)!r}: it has {data.shape[0]} rows and "
            f"{data.shape[1]} columns (need a header row and data rows)")
    return data
