"""The self-check's tests share one oracle cache folder (``VICHECK_CACHE_DIR``), made for the session: nothing
is written to the user's own cache, and a later check finds what an earlier one computed, as a student's
would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def oracle_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("vicheck-cache")
    saved = os.environ.get("VICHECK_CACHE_DIR")
    os.environ["VICHECK_CACHE_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("VICHECK_CACHE_DIR", None)
        else:
            os.environ["VICHECK_CACHE_DIR"] = saved
