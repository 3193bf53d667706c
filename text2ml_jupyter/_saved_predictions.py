"""A trial's kept validation predictions on disk, in the run folder's ``predictions/``.

The ensemble selection blends the trials' validation predictions (_prediction_store.py), which the
caller keeps in memory. A copy per kept trial in the run folder lets ``resume`` (a new
session, perhaps after a kernel restart) blend the earlier session's trials with its own.
The files hold plain arrays and a JSON header (``numpy.load`` with ``allow_pickle=False``:
loading one runs no code), and are private to the user like the rest of the run folder.
A file that cannot be read or does not add up is skipped: a trial without predictions is
simply not a member.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from ._runfolder import write_atomic

PREDICTIONS_DIR = "predictions"
_SUFFIX = ".npz"


def save(folder: Path, number: int, payload: dict[str, Any]) -> None:
    """Write one trial's payload (``_prediction_store.pack_predictions``) as ``<number>.npz``.

    Atomic (a temporary file, then a rename) but not flushed to disk: the search would wait
    on every trial for a copy that only spares a resume some members after a crash."""
    import numpy as np

    header = {k: payload[k] for k in ("kind", "classes", "sizes", "width")}
    try:
        text = json.dumps(header)
    except (TypeError, ValueError):  # labels JSON cannot hold: kept in memory only
        return
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array(text), rows=np.frombuffer(payload["rows"], np.int32),
             values=np.frombuffer(payload["values"], np.float32))
    write_atomic(folder / f"{number}{_SUFFIX}", buffer.getvalue(), fsync=False)  # 0600


def forget(folder: Path, number: int) -> None:
    """Remove a trial's file (it is no longer among the kept ones)."""
    (folder / f"{number}{_SUFFIX}").unlink(missing_ok=True)


def load_all(folder: Path) -> dict[int, dict[str, Any]]:
    """Every readable trial payload in ``folder``, by trial number."""
    import numpy as np

    found: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob(f"*{_SUFFIX}")) if folder.is_dir() else []:
        try:
            number = int(path.stem)
            with np.load(path, allow_pickle=False) as saved:
                header = json.loads(str(saved["header"]))
                rows = saved["rows"].astype(np.int32, copy=False)
                values = saved["values"].astype(np.float32, copy=False)
            sizes, width = [int(s) for s in header["sizes"]], int(header["width"])
            if header["kind"] not in ("proba", "values") or sum(sizes) != len(rows) \
                    or width < 1 or len(values) != len(rows) * width:
                continue
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            continue  # damaged or not ours: that trial is just not a member
        found[number] = {"kind": header["kind"], "classes": header["classes"],
                         "sizes": sizes, "width": width, "rows": rows.tobytes(),
                         "values": values.tobytes()}
    return found
