"""How the caller hands the training data to its workers: files in the scratch folder.

A mostly numeric table goes as two files: its float64-exact feature columns in one row-major
float64 ``.npy`` that every worker maps (``mmap_mode="c"``: the pages are the page cache's,
shared by every worker and counted once in the machine's memory, and a worker that writes
to them gets private copies, never touching the file), and the other columns (the target,
text, categories, ...) with the index in a small pickle (``.parts``). The worker's frame is a
DataFrame over the mapping without a copy: one float64 block, which ``np.asarray`` hands to
a model as it is (row-major: HistGradientBoosting's bin sampling copies a column-major X
whole). Anything else goes as one pickle (``.pkl``), as before.

Which columns are mapped: float64 columns (any role: their values and dtype stay exact), and
plain integer columns with the numeric role (every catalog preprocess turns numbers into
float64 anyway, and HistGradientBoosting converts them the same way, so the fitted pipeline
predicts the same on the user's int columns). Integer columns of another role stay in the
pickle (``str(3.0)`` is not ``str(3)`` for an encoder), as do the target unless it is float64
(a classifier's ``classes_`` must keep the user's dtype), booleans, nullable and extension
dtypes. Only the columns a worker needs (features and target) are shipped.

The refit's worker lets go of the mapping once HistGradientBoosting has binned it
(``released_once_binned``): the model's trees then split its one-byte bins and never read
the float64 table again, which at 1M rows is most of what the refit holds.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PARTS_SUFFIX = ".parts"
_EXACT = 2**53  # integers up to this are exact in float64
_CHUNK_BYTES = 8 * 2**20  # the caller converts this much at a time, never the whole table
# Linux's MADV_PAGEOUT (5.4+; Python's mmap passes the number through): reclaim the pages
# now. The file's pages are clean (the worker never writes them), so they are dropped, not
# written anywhere; a later read would fetch them again. Elsewhere the call fails harmlessly.
_MADV_PAGEOUT = 21


def mapped_columns(frame: pd.DataFrame, columns: Sequence[Any], numeric: Sequence[Any]) -> list:
    """The columns of ``columns`` that go into the float64 file (see the module's docstring);
    ``numeric`` are the features whose role is numeric."""
    numeric = set(numeric)
    chosen = []
    for column in columns:
        dtype = frame[column].dtype
        if dtype == np.float64:
            chosen.append(column)
        elif column in numeric and isinstance(dtype, np.dtype) and dtype.kind in "iu":
            values = frame[column].to_numpy()
            if len(values) == 0 or max(abs(int(values.min())), abs(int(values.max()))) <= _EXACT:
                chosen.append(column)
    return chosen


def write_frame(frame: pd.DataFrame, path: Path, *, columns: Sequence[Any],
                numeric: Sequence[Any], rows: np.ndarray | None = None) -> Path:
    """Write ``frame[columns]`` (only the positions ``rows``, in that order, if given) for
    the workers; returns the path to give ``read_frame``. Mostly numeric data (at least half
    of the columns mapped) goes as ``.npy`` + ``.parts``, the rest as one ``.pkl``. The
    caller converts a few MB at a time: no full-size copy of the table."""
    columns = list(columns)
    mapped = mapped_columns(frame, columns, numeric)
    if not mapped or 2 * len(mapped) < len(columns):
        part = frame[columns] if rows is None else frame[columns].iloc[rows]
        target = path.with_suffix(".pkl")
        part.to_pickle(target)
        return target
    n_rows = len(frame) if rows is None else len(rows)
    npy = path.with_suffix(".npy")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)),
              "fortran_order": False, "shape": (n_rows, len(mapped))}
    step = max(1, _CHUNK_BYTES // (8 * len(mapped)))
    block = frame[mapped]
    with open(npy, "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        for start in range(0, n_rows, step):
            where = slice(start, start + step) if rows is None else rows[start:start + step]
            out.write(block.iloc[where].to_numpy(dtype=np.float64, copy=False).tobytes())
    rest = [c for c in columns if c not in set(mapped)]
    others = frame[rest] if rows is None else frame[rest].iloc[rows]
    parts = {"columns": columns, "mapped": mapped, "npy": npy.name, "rest": others}
    target = path.with_suffix(PARTS_SUFFIX)
    with open(target, "wb") as out:
        pickle.dump(parts, out, protocol=pickle.HIGHEST_PROTOCOL)
    return target


def read_frame(path: str | Path) -> pd.DataFrame:
    """(Worker side.) The frame ``write_frame`` wrote: over a copy-on-write mapping of the
    ``.npy`` (nothing is read until used, and pages are shared with the other workers)."""
    path = Path(path)
    if path.suffix != PARTS_SUFFIX:
        return pd.read_pickle(path)
    with open(path, "rb") as source:
        parts = pickle.load(source)  # the caller's own file
    block = np.load(path.with_name(parts["npy"]), mmap_mode="c")
    rest: pd.DataFrame = parts["rest"]
    frame = pd.DataFrame(block, columns=parts["mapped"], index=rest.index, copy=False)
    for position, column in enumerate(parts["columns"]):
        if column in rest.columns:
            frame.insert(position, column, rest[column])
    return frame


def mapped_table(values: Any) -> np.memmap | None:
    """The mapping ``read_frame`` made whose pages the array ``values`` views, or None."""
    base = values
    while base is not None:
        if isinstance(base, np.memmap) and getattr(base, "_mmap", None) is not None:
            return base
        base = getattr(base, "base", None)
    return None


@contextlib.contextmanager
def released_once_binned(y: Any) -> Iterator[Any]:
    """(The refit's worker, while a HistGradientBoosting model fits: ``_refit.refit_program``
    decides.) As soon as the model has binned a table that is a ``read_frame`` mapping,
    let the kernel reclaim the mapping's pages: the model's trees never read it again.
    Yields the target to fit on: a copy when it is a column of the mapping, which every
    boosting iteration reads and would page the whole table back in (8 bytes a row, one
    per page-sized run of rows)."""
    try:
        from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    except ImportError:  # another scikit-learn layout: the fit holds the table, as before
        yield y
        return
    if mapped_table(np.asarray(y)) is not None:
        y = y.copy()
    transform = _BinMapper.transform

    def transform_then_release(self: Any, X: Any) -> Any:
        binned = transform(self, X)
        table = mapped_table(X)
        if table is not None:
            _page_out(table)
        return binned

    _BinMapper.transform = transform_then_release
    try:
        yield y
    finally:
        _BinMapper.transform = transform


def _page_out(table: np.memmap) -> None:
    """Let the kernel reclaim the mapping's pages. It reclaims only clean ones: the file
    is flushed first (a no-op once the kernel has written the caller's write back, which
    it does within ~30 s)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        descriptor = os.open(table.filename, os.O_RDONLY)
        try:
            os.fdatasync(descriptor)
        finally:
            os.close(descriptor)
        table._mmap.madvise(_MADV_PAGEOUT)
