"""Shared fixtures: a real SQLite file per test, the real-data folder, and the --browser option."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("LOANFLOW_REAL_DATA") or REPO.parent / "shared" / "data" / "real")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--browser", action="store_true", default=False,
                     help="also run the real-browser tests (Debian chromium via Playwright)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: real-browser test, needs --browser and /usr/bin/chromium")
    config.addinivalue_line("markers", "real_data: reads ../shared/data/real in place")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--browser"):
        return
    skip = pytest.mark.skip(reason="real-browser test: run with --browser")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real SQLite file in tmp_path, also set as $LOANFLOW_DB for code that reads the default."""
    path = tmp_path / "loanflow.db"
    monkeypatch.setenv("LOANFLOW_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """st.cache_data survives across AppTest instances in one process: start every test clean."""
    try:
        import streamlit as st
    except ImportError:  # pragma: no cover
        yield
        return
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The public real-data folder, read in place; tests using it skip only when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"{REAL_DATA} is absent")
    return REAL_DATA
