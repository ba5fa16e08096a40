"""Fixtures for the web UI: a small demo lake with hostile events, the app, a real server and a
real headless chromium (see web_support.py for what they share with the tests)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trailfiles import trail_events
from web_support import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    TOKEN,
    DemoLake,
    edge_records,
    ensure_chromium,
    hostile_records,
    serving,
    unique_events,
)

from trailscope import Lake
from trailscope.synth import synth_trail


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> DemoLake:
    root = tmp_path_factory.mktemp("web")
    trail = root / "trail"
    synth_trail(trail, events=20_000, seed=11, insights=False)
    account = sorted(p.name for p in (trail / "AWSLogs").iterdir() if p.name.isdigit())[0]
    folder = trail / "AWSLogs" / account / "CloudTrail" / "us-east-1" / "2024" / "07" / "17"
    folder.mkdir(parents=True, exist_ok=True)
    hostile = hostile_records(account)
    name = f"{account}_CloudTrail_us-east-1_20240717T1505Z_HostileFile00000.json.gz"
    with gzip.open(folder / name, "wt") as fh:
        json.dump({"Records": hostile}, fh)
    edge = folder.parent / "16"
    edge.mkdir(parents=True, exist_ok=True)
    name = f"{account}_CloudTrail_us-east-1_20240716T1015Z_EdgeCaseFile0000.json.gz"
    with gzip.open(edge / name, "wt") as fh:
        json.dump({"Records": edge_records(account)}, fh)
    lake = root / "lake"
    Lake(lake).ingest(str(trail), workers=1)
    return DemoLake(
        path=lake,
        trail=trail,
        account=account,
        events=unique_events(trail_events(trail)),
        hostile_ids=[r["eventID"] for r in hostile],
        hostile_arn=hostile[0]["userIdentity"]["arn"],
    )


@pytest.fixture(scope="session")
def lake(demo_lake: DemoLake) -> Lake:
    return Lake(demo_lake.path)


@pytest.fixture(scope="session")
def client(demo_lake: DemoLake) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from trailscope.web import create_app

    with TestClient(create_app(demo_lake.path)) as c:
        yield c


@pytest.fixture(scope="session")
def server(demo_lake: DemoLake) -> Iterator[str]:
    """A real ``trailscope serve`` process on a free loopback port, with an access token."""
    with serving(demo_lake.path) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = ensure_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser page that has presented the token once (then the cookie carries it)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    pg.goto(f"{server}/?token={TOKEN}")
    try:
        yield pg
    finally:
        context.close()


def pytest_configure(config: pytest.Config) -> None:
    # FastAPI's TestClient still uses httpx; the deprecation note is not about trailscope.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")
