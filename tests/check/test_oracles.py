"""The oracle cache kept on disk between self-checks (``vicheck.check.oracles``): what a run computed, the next
run on the same machine finds, as the same values; a file that does not read is ignored."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from properties._memo import CACHED, oracle_cache
from tests.check.helpers import LECTURE, vicheck
from vicheck.check import oracles


@oracle_cache
def _double(x: float) -> float:
    return 2 * x


NAME = f"{__name__}._double"


def test_saved_values_are_loaded_again(tmp_path: Path) -> None:
    store = CACHED[NAME].cache  # type: ignore[attr-defined]
    store.clear()
    assert _double(1.5) == 3.0 and _double(-0.0) == -0.0
    path = tmp_path / "oracles.marshal"
    oracles.save(path)
    store.clear()
    assert oracles.load(path) >= 2
    assert [entry[0] for entry in store.values()][-2:] == [3.0, -0.0]
    calls = len(store)
    assert _double(1.5) == 3.0 and len(store) == calls  # found, not computed
    store.clear()


@pytest.mark.parametrize("content", [b"", b"not marshal", marshal.dumps([1, 2]), marshal.dumps({NAME: [1, (1,)]})])
def test_a_file_that_does_not_read_is_ignored(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "oracles.marshal"
    path.write_bytes(content)
    assert oracles.load(path) == 0


def test_the_file_is_named_by_what_the_values_depend_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VICHECK_CACHE_DIR", str(tmp_path))
    first = oracles.cache_file()
    assert first is not None and first.parent == tmp_path and first.name.startswith("oracles-")
    monkeypatch.setattr("torch.get_num_threads", lambda: 97)
    assert oracles.cache_file() != first
    monkeypatch.setenv("VICHECK_CACHE_DIR", "off")
    assert oracles.cache_file() is None


def test_a_check_leaves_the_values_it_computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("VICHECK_CACHE_DIR", str(cache))
    run = vicheck("check", str(LECTURE), "-f", "log_evidence", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    (saved,) = cache.glob("oracles-*.marshal")
    data = marshal.loads(saved.read_bytes())
    assert sum(len(v) for v in data.values()) > 0
    stamp = saved.stat().st_mtime_ns
    again = vicheck("check", str(LECTURE), "-f", "log_evidence", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == run.stdout
    assert saved.stat().st_mtime_ns == stamp  # every value was found: nothing to write
