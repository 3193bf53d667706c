"""Loading a fitted pipeline from a worker without running generated code in the caller.

A pickle is a program: loading one can call any function it names, and a pickled class of
the LLM's own brings its methods (``__setstate__`` runs during the load). So a pipeline
that holds LLM-written candidates is loaded with ``loads_library_only``: it may name
classes of scikit-learn, NumPy, SciPy and pandas and their own reconstruction helpers,
nothing else. A pipeline that needs more (a function or class the LLM wrote) is refused
with ``GeneratedCode``; it stays in the run, and the user builds it by running the
inserted cells, which is when generated code is meant to run.
"""

from __future__ import annotations

import io
import pickle
import re
from typing import Any, BinaryIO

_LIBRARIES = ("sklearn", "numpy", "scipy", "pandas")
# Module-level functions those libraries pickle their own objects with.
_HELPER = re.compile(r"^(_reconstruct|_frombuffer|scalar|_unpickle\w*|__pyx_unpickle_\w+|"
                     r"_new_\w+|__\w+_ctor|_wrap_data_with_container|_reconstructor)$")
# Library classes whose constructor touches files or the system: never rebuilt by a load.
_REFUSED_CLASSES = {"memmap", "HDFStore", "ExcelWriter", "ExcelFile", "netcdf_file",
                    "FortranFile", "DataSource", "Repository"}
_BUILTINS = {"slice", "complex", "set", "frozenset", "bytearray", "range", "object",
             "list", "dict", "tuple", "int", "float", "bool", "str", "bytes"}


class GeneratedCode(Exception):
    """The pickle needs code beyond the libraries (``.name`` says which)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the pickle needs {name}, which is not library code")
        self.name = name


class _LibraryOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if module == "builtins" and name in _BUILTINS:
            return super().find_class(module, name)
        if module == "copyreg" and name == "_reconstructor":
            return super().find_class(module, name)
        if root in _LIBRARIES and name not in _REFUSED_CLASSES:
            found = super().find_class(module, name)
            if isinstance(found, type) or _HELPER.match(name):
                return found
        raise GeneratedCode(f"{module}.{name}")


# NumPy's own reconstruction of arrays, dtypes and scalars (numpy.core in 1.x, numpy._core
# in 2.x): all a worker's answers need beyond builtin values.
_NUMPY_VALUES = re.compile(r"^numpy\.(_?core\.(multiarray|numeric)\.(_reconstruct|_frombuffer|"
                           r"scalar)|ndarray|dtype|_?core\.multiarray\.ndarray)$")


class _PlainValues(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _BUILTINS:
            return super().find_class(module, name)
        if _NUMPY_VALUES.match(f"{module}.{name}"):
            return super().find_class(module, name)
        raise GeneratedCode(f"{module}.{name}")


def loads_plain(blob: bytes) -> Any:
    """Unpickle a message from a worker: builtin values (str, numbers, bytes, containers)
    and NumPy arrays only. A worker runs candidate code, which can write its own bytes to
    the worker's end of the connection; unpickled as they came, they could call anything
    in the caller. Else ``GeneratedCode``, with nothing called."""
    return _PlainValues(io.BytesIO(blob)).load()


def loads_library_only(blob: bytes) -> Any:
    """Unpickle ``blob`` if it names only library classes and their helpers; else raise
    ``GeneratedCode`` without having called anything outside those."""
    return _LibraryOnly(io.BytesIO(blob)).load()


def load_fitted(blob: bytes | BinaryIO, origins: list[str],
                pipeline_name: str) -> tuple[Any, str | None]:
    """The fitted pipeline for the caller, and a note when it was not loaded.

    ``blob``: the pickle, or a file to read it from as it is unpickled. Pipelines made only
    of the offline catalog's candidates (the package's own code) load as they are; any
    LLM-written part limits the load to library classes.
    """
    source = io.BytesIO(blob) if isinstance(blob, bytes) else blob
    try:
        if all(origin == "offline" for origin in origins):
            return pickle.load(source), None  # the package's own catalog code
        return _LibraryOnly(source).load(), None
    except GeneratedCode as exc:
        return None, (
            f"The winning pipeline holds code the LLM wrote ({exc.name}). It was fitted and "
            "validated in an isolated worker but not loaded into this process: generated "
            f"code runs here only when you run the inserted cells (they build "
            f"`{pipeline_name}`), or when you call result.load_pipeline().")
