"""The access matrix's rows, one module per package. Each module defines ``ROWS`` (route name -> case ->
principal -> expected outcome) and may define ``PATH_VALUES`` (path parameter -> value used in the request).
A new module here is picked up by itself."""

from __future__ import annotations

import importlib
import pkgutil

from tests.integration.access_columns import Column

EXPECTED: dict[str, dict[str, Column]] = {}
PATH_VALUES: dict[str, object] = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _rows: dict[str, dict[str, Column]] = _module.ROWS
    _twice = set(_rows) & set(EXPECTED)
    assert not _twice, f"routes with rows in two modules: {sorted(_twice)}"
    EXPECTED.update(_rows)
    for _name, _value in getattr(_module, "PATH_VALUES", {}).items():
        assert PATH_VALUES.get(_name, _value) == _value, f"path parameter {_name!r} given two values"
        PATH_VALUES[_name] = _value
