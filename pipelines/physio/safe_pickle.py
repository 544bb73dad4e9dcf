"""Load a PPG-DaLiA pickle without letting it run code.

``pickle.load`` imports and calls whatever a file names (``os.system`` included), so a
downloaded ``S1.pkl`` could run anything. PPG-DaLiA files hold only dicts, lists, strings,
numbers and numpy arrays; :class:`DataOnlyUnpickler` imports only what those need and refuses
every other global with :class:`~crossmodal_ray.pipelines.physio.errors.UnsafePickleError`
before anything is called. The data itself loads exactly as with ``pickle.load`` (same C
unpickler; only the look-up of globals is checked, a handful per file).

Allowed, by the names pickles use for them:

- Python builtins for plain values (``dict``, ``list``, ``set``, ``str``, ``bytes``, ``int``,
  ``float``, ``complex``, ``bool``, ...), under Python 3 (``builtins``) or 2 (``__builtin__``)
  names, and ``_codecs.encode`` (how protocol 2 writes ``bytes``);
- numpy arrays, dtypes and scalars: ``ndarray``, ``dtype``, ``multiarray._reconstruct`` and
  ``multiarray.scalar`` (protocol <= 4), ``numeric._frombuffer`` (protocol 5), under numpy 1's
  ``numpy.core`` (what Python-2-era files name) and numpy 2's ``numpy._core``; ``numpy.core``
  names are loaded from ``numpy._core`` on numpy 2 (the old path only warns and forwards).
"""

from __future__ import annotations

import importlib
import pickle
from typing import IO, Any

from crossmodal_ray.pipelines.physio.errors import UnsafePickleError

_BUILTIN_VALUES = frozenset(
    {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray"}
    | {"int", "float", "complex", "bool"}
)
_NUMPY_CORE_GLOBALS = frozenset(
    {
        ("multiarray", "_reconstruct"),
        ("multiarray", "scalar"),
        ("numeric", "_frombuffer"),
    }
)
FORMAT_CONTENTS = "PPG-DaLiA files hold only dicts, lists, numbers, strings and numpy arrays"


def is_allowed_global(module: str, name: str) -> bool:
    """Whether a pickle may import ``module.name`` (see the module docstring)."""
    if module in ("builtins", "__builtin__"):
        return name in _BUILTIN_VALUES
    if (module, name) == ("_codecs", "encode"):
        return True
    if module == "numpy":
        return name in ("ndarray", "dtype")
    for prefix in ("numpy.core.", "numpy._core."):
        if module.startswith(prefix):
            return (module[len(prefix) :], name) in _NUMPY_CORE_GLOBALS
    return False


def _numpy_module_name(module: str) -> str:
    """``numpy.core.x`` -> ``numpy._core.x`` when numpy 2 is installed (no deprecation shim)."""
    if module.startswith("numpy.core."):
        try:
            importlib.import_module("numpy._core")
        except ImportError:  # numpy 1: numpy.core is the real module
            return module
        return "numpy._core." + module[len("numpy.core.") :]
    return module


class DataOnlyUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that finds only the globals plain data needs.

    Raises:
        UnsafePickleError: from ``load()``, when the pickle names any other global (the
            message says which one and why it is refused).
    """

    def find_class(self, module: str, name: str) -> Any:
        if not is_allowed_global(module, name):
            raise UnsafePickleError(
                f"the pickle asks for {module}.{name}: {FORMAT_CONTENTS}; refusing to run code "
                "from a data file (it may be malicious; get the file from its original source)"
            )
        if module == "__builtin__":
            module = "builtins"
        return getattr(importlib.import_module(_numpy_module_name(module)), name)


def load_data_pickle(file: IO[bytes], encoding: str = "latin1") -> Any:
    """Unpickle plain data from ``file``; ``encoding="latin1"`` reads Python-2 pickles (numpy
    arrays' byte strings included), as PPG-DaLiA's are.

    Raises:
        UnsafePickleError: the pickle names a global outside the allowed data types.
        Exception: whatever ``pickle`` raises for a corrupt or truncated file.
    """
    return DataOnlyUnpickler(file, encoding=encoding).load()
