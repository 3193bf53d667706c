"""Study storages for a shared run: opened with clear errors, named without passwords.

Every failure is a ``Text2MLError`` (what is wrong, how to fix it) that names the storage
by its URL with the password masked (``_runfolder.public_storage``); the driver's own
message is kept, with the password taken out of it too.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from ._runfolder import public_storage
from .errors import Text2MLError

_MAX_NAME = 200
_OPEN_ATTEMPTS = 5
_DRIVER_FIX = ("Check the URL (e.g. postgresql://user@host:5432/db, mysql+pymysql://user@"
               "host/db or sqlite:///runs.db), that the server is up and reachable from "
               "here, and that its driver is installed (pip install "
               "'text2ml-jupyter[distributed]' for PostgreSQL).")


# ------------------------------------------------------------------ showing a storage

def shown_storage(storage: Any) -> str:
    """How a storage is named in messages: its URL with the password masked."""
    return public_storage(storage) or type(storage).__name__


def _storage_secrets(storage: Any) -> list[str]:
    """The passwords inside a storage URL (as written and URL-decoded), longest first."""
    if not isinstance(storage, str):
        return []
    found = re.findall(r"(?i)[?&;](?:password|passwd|pwd)=([^&;#]*)", storage)
    userinfo = storage.rpartition("@")[0].partition("://")[2]
    if ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found += [unquote(secret) for secret in found]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def mask_secrets(text: str, storage: Any) -> str:
    """``text`` (an error message, a log line) with the storage URL's password hidden."""
    if isinstance(storage, str) and storage in text:
        text = text.replace(storage, shown_storage(storage))
    for secret in _storage_secrets(storage):
        text = text.replace(secret, "***")
    return text


# ------------------------------------------------------------------ opening a storage

def with_driver(url: Any) -> Any:
    """``postgresql://`` with a driver that is installed: SQLAlchemy 2.1 defaults to
    psycopg 3, the ``distributed`` extra installs psycopg2. (``postgres://`` is read as
    ``postgresql://``.) Anything else is returned as it is."""
    if not isinstance(url, str):
        return url
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    import importlib.util

    psycopg2_only = importlib.util.find_spec("psycopg") is None \
        and importlib.util.find_spec("psycopg2") is not None
    return f"postgresql{'+psycopg2' if psycopg2_only else ''}://{rest}"


def open_storage(storage: Any) -> Any:
    """An Optuna storage from a URL (objects are returned as they are); any failure is a
    ``Text2MLError`` naming the storage without its password."""
    if not isinstance(storage, str):
        return storage
    import optuna

    url = with_driver(storage)
    for attempt in range(1, _OPEN_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except Exception as exc:  # noqa: BLE001 - the driver's or SQLAlchemy's own error
            if attempt == _OPEN_ATTEMPTS or not _creating_tables_too(exc):
                raise _unreachable(storage, exc) from None
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _creating_tables_too(exc: BaseException) -> bool:
    """Another process is creating Optuna's tables in the same empty database (workers
    started together): once it is done, opening the storage works."""
    import sqlalchemy.exc

    return isinstance(exc, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError))


def _engine_kwargs(url: str) -> dict[str, Any]:
    """SQLite waits for its lock (trials finish on several threads); a server that does
    not answer fails within seconds instead of hanging the run."""
    dialect = url.partition(":")[0].partition("+")[0].lower()
    if dialect == "sqlite":
        return {"connect_args": {"timeout": 60}}
    if dialect in ("postgresql", "postgres", "mysql", "mariadb"):
        return {"connect_args": {"connect_timeout": 10}}
    return {}


def close_storage(opened: Any, storage: Any) -> None:
    """Release the connections of a storage this module opened from a URL."""
    engine = getattr(opened, "engine", None)
    if isinstance(storage, str) and engine is not None:
        engine.dispose()


def _unreachable(storage: Any, exc: BaseException) -> Text2MLError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = mask_secrets(f"{type(exc).__name__}: {text}" if text else type(exc).__name__,
                          storage)
    return Text2MLError(f"Cannot use the study storage {shown_storage(storage)} "
                        f"({detail[:300]}).", _DRIVER_FIX)


def _exists_error(storage: Any, study_name: str | None) -> Text2MLError:
    return Text2MLError(
        f"A study named {study_name!r} already exists in {shown_storage(storage)}.",
        "Give this run another name (--study NAME, or study_name=...), or leave it out to "
        "name the study after the run. To continue that study's run, resume it; to remove "
        f"it: optuna delete-study --study-name {study_name!r} --storage URL.")


def check_study_name(study_name: Any) -> None:
    """None (the run id names the study) or a short, printable, non-blank name."""
    if study_name is None:
        return
    if not isinstance(study_name, str) or not study_name.strip() \
            or len(study_name) > _MAX_NAME or not study_name.isprintable():
        raise Text2MLError(f"study_name={study_name!r} is not a study name.",
                           "Use a short name such as study_name='titanic-f1' "
                           "(--study titanic-f1), or leave it out.")


def check_storage(storage: Any, study_name: str | None) -> Any:
    """Before a run starts anything: the storage can be opened and has no study named
    ``study_name`` yet (``Text2MLError`` otherwise, never Optuna's traceback). Returns the
    storage to use (a ``postgresql://`` URL names the driver that is installed)."""
    import optuna

    check_study_name(study_name)
    if storage is None:
        return None
    if not isinstance(storage, (str, optuna.storages.BaseStorage)):
        raise Text2MLError(f"storage={storage!r} is not an Optuna storage.",
                           "Pass a URL such as 'postgresql://user@host/db' or "
                           "'sqlite:///runs.db', an Optuna storage object, or leave it out "
                           "(a journal file in the run folder).")
    opened = open_storage(storage)
    try:
        if study_name is not None and _study_id(opened, storage, study_name) is not None:
            raise _exists_error(storage, study_name)
    finally:
        close_storage(opened, storage)
    return with_driver(storage)


def _study_id(opened: Any, storage: Any, study_name: str) -> int | None:
    """The study's id, None when there is no such study."""
    try:
        return opened.get_study_id_from_name(study_name)
    except KeyError:
        return None
    except Exception as exc:  # noqa: BLE001 - a broken connection, a missing table...
        raise _unreachable(storage, exc) from None


@contextlib.contextmanager
def storage_errors(storage: Any, study_name: str | None) -> Iterator[None]:
    """Around creating the run's study: a name taken meanwhile, or a storage that fails,
    becomes a ``Text2MLError`` with the password masked."""
    import optuna

    try:
        yield
    except optuna.exceptions.DuplicatedStudyError:
        raise _exists_error(storage, study_name) from None
    except Text2MLError:
        raise
    except Exception as exc:  # noqa: BLE001 - the storage's own error, said plainly
        if storage is None:
            raise
        raise _unreachable(storage, exc) from None


def read_study_attrs(opened: Any, storage: Any, study_name: str) -> dict[str, Any] | None:
    """The study's user attributes; None when there is no such study (yet)."""
    study_id = _study_id(opened, storage, study_name)
    if study_id is None:
        return None
    try:
        return opened.get_study_user_attrs(study_id)
    except KeyError:  # deleted meanwhile
        return None
    except Exception as exc:  # noqa: BLE001
        raise _unreachable(storage, exc) from None
