"""The web app and the Python API read the lake through one kept engine: what one sees after a
commit or a verification, the other sees too."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from trailscope import Lake
from trailscope.integrity.record import record_validation
from trailscope.integrity.verify import verify_trail
from trailscope.synth import synth_trail
from trailscope.web import create_app

VALIDATED = {"sql": "SELECT count(*) AS n FROM cloudtrail_validation"}


@pytest.fixture
def small_lake(tmp_path: Path) -> tuple[Path, Path]:
    trail = tmp_path / "trail"
    synth_trail(trail, events=400, seed=3, insights=False)
    Lake(tmp_path / "lake").ingest(str(trail), workers=1)
    return trail, tmp_path / "lake"


def test_after_verify_the_web_shows_the_new_verification_record(small_lake):
    trail, path = small_lake
    lake = Lake(path)
    client = TestClient(create_app(lake))
    assert client.post("/api/query", json=VALIDATED).json()["rows"] == [{"n": 0}]
    recorded = record_validation(Lake(path), verify_trail(str(trail)))  # as verify --lake does
    assert recorded > 0
    # the page asks again: the new record is there, as it is for the Python API
    assert client.post("/api/query", json=VALIDATED).json()["rows"] == [{"n": recorded}]
    assert lake.query(VALIDATED["sql"]).to_pylist() == [{"n": recorded}]


def test_web_and_python_api_share_one_engine(small_lake):
    _, path = small_lake
    lake = Lake(path)
    client = TestClient(create_app(lake))
    client.get("/api/status")
    opened = lake.engines.current()
    assert opened is not None
    lake.query("SELECT count(*) AS n FROM cloudtrail")
    client.get("/api/d/overview?range=all")
    assert lake.engines.current() is opened  # nothing changed: one engine for both
