"""Stored findings on the Detections page: their status, acknowledging and suppressing one in
a real browser, the JSON twin, and the token and CSRF checks those forms pass.

The lake is a copy of the web tests' demo lake (with its hostile events), with the findings of
its detections recorded, served by a real ``trailscope serve`` with a token.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_support import TOKEN, DemoLake, serving

from trailscope import Lake
from trailscope.detect import run_detections
from trailscope.detect.model import DetectionReport, Finding, Severity
from trailscope.findings import record_findings
from trailscope.findings.manage import list_findings, list_suppressions

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOSTILE = '<script>alert("principal")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def findings_lake(demo_lake: DemoLake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("findings-web") / "lake"
    shutil.copytree(demo_lake.path, path)
    lake = Lake(path)
    report = run_detections(lake)
    report.findings.append(
        Finding(
            rule_id="root-console-login",
            title="Root user signed in to the console",
            severity=Severity.HIGH,
            mitre=(),
            first_seen="2024-07-10T01:00:00Z",
            last_seen="2024-07-10T01:00:00Z",
            principal=HOSTILE,
            source_ip="198.51.100.66",
            account=demo_lake.account,
            region="us-east-1",
            event_count=1,
            event_ids=["hostile-event"],
        )
    )
    record_findings(lake, DetectionReport(findings=report.findings))
    lake.close()
    return path


@pytest.fixture(scope="module")
def findings_server(findings_lake: Path) -> Iterator[str]:
    with serving(findings_lake) as base:
        yield base


@pytest.fixture
def fpage(browser: Any, findings_server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    pg.goto(f"{findings_server}/?token={TOKEN}")
    try:
        yield pg
    finally:
        context.close()


def _stored(base: str, **params: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/detections.json", params=params, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["stored"]


def test_detections_page_lists_stored_findings_with_status(
    findings_server: str, findings_lake: Path
) -> None:
    stored = _stored(findings_server)
    rows = list_findings(Lake(findings_lake))
    assert stored["total"] == len(rows) == sum(stored["by_status"].values())
    assert [f["finding_id"] for f in stored["findings"]] == [r["finding_id"] for r in rows]
    assert {f["status"] for f in stored["findings"]} <= {"open", "acknowledged", "suppressed"}
    one = httpx.get(f"{findings_server}{stored['findings'][0]['href']}.json", headers=AUTH)
    assert one.json()["finding_id"] == stored["findings"][0]["finding_id"]
    missing = httpx.get(f"{findings_server}/detections/findings/ffffffffffffffff", headers=AUTH)
    assert missing.status_code == 404
    gone = httpx.get(f"{findings_server}/api/findings/ffffffffffffffff", headers=AUTH)
    assert (gone.status_code, gone.json()["error"]) == (
        404,
        "no finding with id 'ffffffffffffffff'",
    )


def test_acknowledge_and_suppress_in_the_browser(
    fpage: Any, findings_server: str, findings_lake: Path
) -> None:
    page = fpage
    page.goto(f"{findings_server}/detections")
    rows = page.locator("tr.stored-finding")
    assert rows.count() == _stored(findings_server)["total"]
    # the hostile principal is shown as text, never run
    hostile = page.locator("tr.stored-finding", has_text="<script>")
    assert hostile.count() == 1
    assert HOSTILE in hostile.inner_text()
    first = page.locator("tr.stored-finding").filter(has_text="open").first
    fid = first.get_attribute("data-finding")
    first.get_by_role("button", name=f"acknowledge finding {fid}").click()
    page.wait_for_url("**/detections#stored")
    row = page.locator(f'tr.stored-finding[data-finding="{fid}"]')
    assert row.locator("td.status").inner_text() == "acknowledged"
    # open the hostile one's page and suppress findings like it for 30 days, with a note
    target = hostile.get_attribute("data-finding")
    page.goto(f"{findings_server}/detections/findings/{target}")
    assert page.locator("#finding-status").inner_text() == "open"
    form = page.locator("form.suppress-form")
    form.locator("select[name=for]").select_option("30d")
    form.locator("input[name=note]").fill("red team exercise")
    form.get_by_role("button", name="Suppress").click()
    page.wait_for_url(f"**/detections/findings/{target}")
    assert page.locator("#finding-status").inner_text().startswith("suppressed")
    assert page.dialogs == []  # type: ignore[attr-defined]
    by_id = {f["finding_id"]: f for f in _stored(findings_server)["findings"]}
    assert by_id[fid]["status"] == "acknowledged"
    assert by_id[target]["status"] == "suppressed"
    lake = Lake(findings_lake)
    [suppression] = [s for s in list_suppressions(lake) if s["note"] == "red team exercise"]
    assert suppression["principal"] == HOSTILE  # no glob characters to quote in it
    assert suppression["rule"] == "root-console-login"
    assert suppression["expires_at"] is not None


def test_forms_need_the_token_and_a_csrf_token(findings_server: str) -> None:
    fid = _stored(findings_server, status="open")["findings"][0]["finding_id"]
    url = f"{findings_server}/detections/findings/{fid}/ack"
    # no token: refused before anything runs
    assert httpx.post(url, data={"note": "x"}).status_code == 401
    # a browser form from another site (it has the token cookie, not the CSRF token)
    cross = httpx.post(
        url,
        data={"note": "x"},
        cookies={"trailscope_token": TOKEN},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    # same origin, but no CSRF token in the form
    same = httpx.post(
        url,
        data={"note": "x"},
        cookies={"trailscope_token": TOKEN, "trailscope_session": "abc"},
        headers={"Origin": findings_server, "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 403 and "CSRF" in same.text
    assert _stored(findings_server, status="open")["findings"][0]["finding_id"] == fid
    # a script with the bearer token (not forgeable by a page) gets the JSON twin
    api = httpx.post(
        f"{findings_server}/api/findings/{fid}/ack", json={"note": "by script"}, headers=AUTH
    )
    assert api.status_code == 200
    assert (api.json()["finding"]["status"], api.json()["finding"]["note"]) == (
        "acknowledged",
        "by script",
    )


def test_acknowledging_does_not_run_the_rules_again(
    findings_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that changes no event (an acknowledgement) keeps the detection report: on a
    large lake running every rule again takes seconds."""
    from fastapi.testclient import TestClient

    import trailscope.detect
    from trailscope.web import create_app

    runs: list[object] = []
    real = trailscope.detect.run_detections

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(kwargs.get("since"))
        return real(*args, **kwargs)

    monkeypatch.setattr(trailscope.detect, "run_detections", counted)
    # a fixed range: a range counted back from now moves with the clock, and so would the key
    page = "/detections.json?range=custom&since=2024-07-16T00:00:00Z&until=2024-07-17T23:59:59Z"
    with TestClient(create_app(findings_lake)) as client:
        before = client.get(page).json()
        assert len(runs) == 1
        fid = next(f for f in before["stored"]["findings"] if f["status"] == "open")["finding_id"]
        assert client.post(f"/api/findings/{fid}/ack", json={"note": "n"}).status_code == 200
        after = client.get(page).json()
        assert len(runs) == 1
        assert after["findings"] == before["findings"] != []
        status = {f["finding_id"]: f["status"] for f in after["stored"]["findings"]}
        assert status[fid] == "acknowledged"


def test_stored_findings_pages_have_no_serious_accessibility_violations(
    fpage: Any, findings_server: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    fid = _stored(findings_server)["findings"][0]["finding_id"]
    for url in ("/detections", f"/detections/findings/{fid}"):
        fpage.goto(findings_server + url)
        fpage.wait_for_function("document.body.dataset.ready === '1'")
        results = Axe().run(fpage)
        serious = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], url
