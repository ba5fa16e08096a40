"""The web app over a lake on S3 (a moto server on loopback): the same pages, the same
locked-down engine, which reads the lake through pyarrow and nothing else."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from trailscope import Lake
from trailscope.web import create_app

pytestmark = pytest.mark.slow


def test_dashboards_and_workbench_over_an_s3_lake(s3_bucket, demo_lake):
    endpoint, bucket = s3_bucket
    lake = Lake(f"s3://{bucket}/lake", endpoint_url=endpoint)
    lake.ingest(str(demo_lake.trail), workers=1)
    client = TestClient(create_app(lake))
    totals = client.get("/api/d/overview?range=all").json()["panels"][0]["rows"][0]
    assert totals["events"] == len(demo_lake.events)
    r = client.post("/api/query", json={"sql": "SELECT count(*) AS n FROM cloudtrail"})
    assert r.json()["rows"] == [{"n": len(demo_lake.events)}]
    refused = client.post("/api/query", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"})
    assert refused.json()["error"].startswith('Permission Error: Cannot access file "/etc/passwd"')
    assert client.get("/status").status_code == 200
