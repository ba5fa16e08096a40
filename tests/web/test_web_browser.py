"""End to end in a real headless chromium against a real ``trailscope serve`` process.

Each test asserts on what the page shows against the same question asked through the Python
API (``Lake.query`` / ``Lake.run``) and saves screenshots under test-artifacts/web/.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import pytest
from web_support import HOSTILE_AGENT, HOSTILE_IP

from trailscope.web.dashboards import load_builtin

pytestmark = pytest.mark.slow

DASHBOARDS = load_builtin()


def count(lake: Any, where: str, params: dict[str, Any] | None = None) -> int:
    sql = f"SELECT count(*) AS n FROM cloudtrail WHERE {where}"
    return lake.query(sql, params=params).to_pylist()[0]["n"]


def tile(page: Any, panel: str, stat: str) -> int:
    text = page.locator(f"#panel-{panel} [data-stat='{stat}'] dd").inner_text()
    return int(text.replace(",", ""))


def shot(page: Any, artifacts: Any, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def latest(lake: Any) -> str:
    return lake.query("SELECT max(eventtime) AS t FROM cloudtrail").to_pylist()[0]["t"]


@pytest.mark.parametrize("name", list(DASHBOARDS))
def test_every_dashboard_loads_with_the_python_api_numbers(page, server, lake, artifacts, name):
    page.goto(f"{server}/d/{name}?range=all")
    assert page.locator("h1").first.inner_text() == DASHBOARDS[name].title
    assert page.locator(".panel .error").count() == 0
    assert page.locator("section.panel").count() == len(DASHBOARDS[name].panels)
    shot(page, artifacts, f"dashboard-{name}")
    if name == "overview":
        assert tile(page, "totals", "events") == count(lake, "true")
        assert tile(page, "totals", "errors") == count(lake, "errorcode IS NOT NULL")
    elif name == "logins":
        where = "eventsource = 'signin.amazonaws.com' AND eventname = 'ConsoleLogin'"
        assert tile(page, "totals", "logins") == count(lake, where)
    elif name == "errors":
        assert tile(page, "totals", "errors") == count(lake, "errorcode IS NOT NULL")
    elif name == "identity":
        rows = page.locator("#panel-access_keys tbody tr").count()
        assert rows == count(lake, "eventname = 'CreateAccessKey'")
    elif name == "security-groups":
        first = lake.query("SELECT min(eventtime) AS t FROM cloudtrail").to_pylist()[0]["t"]
        expected = lake.run("security-group-changes", since=first, until=latest(lake))
        assert tile(page, "totals", "changes") == expected.num_rows
        first_page = expected.slice(0, 50)
        assert page.locator("#panel-changes tbody tr").count() == first_page.num_rows
        assert page.locator("#panel-changes tbody tr.flag").count() == sum(
            first_page.column("open_to_world").to_pylist()
        )
    elif name == "console":
        assert tile(page, "totals", "calls") == count(
            lake,
            "sessioncredentialfromconsole = 'true' OR useragent = 'console.amazonaws.com'",
        )
    assert page.dialogs == []


def test_lake_status_and_workbench_pages_load(page, server, lake, artifacts):
    page.goto(f"{server}/status")
    events = page.locator("[data-stat='events'] dd").inner_text()
    assert int(events.replace(",", "")) == lake.info().events
    shot(page, artifacts, "status")
    page.goto(f"{server}/workbench")
    assert page.locator("nav.library li").count() >= 18
    shot(page, artifacts, "workbench")


def test_detections_page_drills_down_to_an_event(page, server, lake, artifacts):
    from trailscope.detect import run_detections

    page.goto(f"{server}/detections?range=all")
    report = run_detections(lake)
    assert int(page.locator("#total").inner_text()) == len(report.findings)
    assert int(page.locator("#rules").inner_text()) == len({f.rule_id for f in report.findings})
    shot(page, artifacts, "detections")
    high = page.locator("details.sev-high").first
    high.locator("> summary").click()
    shot(page, artifacts, "detections-open")
    high.locator("a.ev").first.click()
    page.wait_for_url(re.compile(r"/event/"))
    assert page.locator("pre").count() >= 1
    shot(page, artifacts, "detection-event")


def test_changing_filters(page, server, lake, artifacts):
    page.goto(f"{server}/d/overview")
    page.click("a.pick[data-range='24h']")
    page.wait_for_url(re.compile(r"range=24h"))
    # the demo lake is from 2024: the last 24 hours miss it, and the page says so
    assert tile(page, "totals", "events") == 0
    assert "No events of the lake fall in this window" in page.locator("#coverage").inner_text()
    shot(page, artifacts, "overview-window-misses-the-lake")
    page.click("#shift")
    page.wait_for_url(re.compile(r"range=custom"))
    last = latest(lake)
    since = (
        lake.query(
            "SELECT to_iso8601(from_iso8601_timestamp(:t) - INTERVAL '24' HOUR) AS s",
            params={"t": last},
        ).to_pylist()[0]["s"][:19]
        + "Z"
    )
    expected = count(
        lake, "eventtime >= :since AND eventtime <= :until", {"since": since, "until": last}
    )
    assert tile(page, "totals", "events") == expected
    assert since[:16].replace("T", " ") in page.locator("p.span").inner_text()
    # an account from the drop-down applies at once (the select submits the form)
    account = lake.info().accounts[-1]
    page.select_option("select[name='account']", account)
    page.wait_for_url(re.compile(rf"account={account}"))
    assert tile(page, "totals", "events") == count(
        lake,
        "eventtime >= :since AND eventtime <= :until AND recipientaccountid = :a",
        {"since": since, "until": last, "a": account},
    )
    # a custom range typed into the filter bar
    page.fill("input[name='since']", "2024-07-15")
    page.fill("input[name='until']", "2024-07-15")
    page.click("form.filters button[type='submit']")
    page.wait_for_url(re.compile(r"since=2024-07-15"))
    assert tile(page, "totals", "events") == count(
        lake,
        "eventtime >= '2024-07-15T00:00:00Z' AND eventtime <= '2024-07-15T23:59:59Z' "
        "AND recipientaccountid = :a",
        {"a": account},
    )
    shot(page, artifacts, "overview-filtered")


def test_drill_down_from_a_bar_to_an_event_and_pivot(page, server, lake, artifacts):
    page.goto(f"{server}/d/overview?range=all")
    bar = page.locator("#panel-event_names th.blab a").first
    name = bar.text_content()
    bar.click()
    page.wait_for_url(re.compile(r"/events\?"))
    assert int(page.locator("#total").inner_text().replace(",", "")) == count(
        lake, "eventname = :n", {"n": name}
    )
    shot(page, artifacts, "events")
    first = page.locator("a.ev").first
    eventid = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/event/"))
    shown = page.locator("#event-json").inner_text()
    assert f'"eventID": "{eventid}"' in shown
    assert f'"eventName": "{name}"' in shown
    shot(page, artifacts, "event")
    ip = lake.query(
        "SELECT sourceipaddress AS ip FROM cloudtrail WHERE eventid = :id", params={"id": eventid}
    ).to_pylist()[0]["ip"]
    page.click("ul.pivots a:has-text('Same source IP')")
    page.wait_for_url(re.compile(r"ip="))
    assert int(page.locator("#total").inner_text().replace(",", "")) == count(
        lake, "sourceipaddress = :ip", {"ip": ip}
    )
    # the next page of a long list
    if page.locator("#older").count():
        page.click("#older")
        page.wait_for_url(re.compile(r"page=2"))
        assert "page 2 of" in page.locator("p.count").inner_text()


def test_workbench_saved_query_with_parameters_and_csv_download(page, server, lake, artifacts):
    page.goto(f"{server}/workbench")
    page.click("a[data-query='failed-console-logins']")
    page.wait_for_url(re.compile(r"q=failed-console-logins"))
    page.fill("input[name='p_since']", "2024-07-01")
    page.click("#run")
    page.wait_for_selector("#rowcount")
    expected = lake.run("failed-console-logins", since="2024-07-01")
    assert int(page.locator("#rowcount").inner_text().replace(",", "")) == expected.num_rows > 0
    assert page.locator(".result table.data tbody tr").count() == expected.num_rows
    assert "SELECT" in page.locator("#sql-run").inner_text()
    shot(page, artifacts, "workbench-result")
    with page.expect_download() as info:
        page.click("#dl-csv")
    download = info.value
    assert download.suggested_filename == "failed-console-logins.csv"
    with open(download.path(), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == expected.num_rows
    assert [r["failures"] for r in rows] == [
        str(v) for v in expected.column("failures").to_pylist()
    ]


def test_workbench_error_shows_line_and_column(page, server, artifacts):
    page.goto(f"{server}/workbench")
    page.fill("#sql", "SELECT eventname\nFROM cloudtrail\nWHERE (eventname = 'x'")
    page.click("#run")
    page.wait_for_selector("#error")
    text = page.locator("#error").inner_text()
    assert "cannot parse the SQL: Expecting ) (line 3, column" in text
    assert "3 | WHERE (eventname = 'x'" in text
    shot(page, artifacts, "workbench-error")


def test_hostile_event_fields_never_run(page, server, demo_lake, artifacts):
    page.goto(f"{server}/events?range=all&ip={HOSTILE_IP}")
    cells = page.locator("table.events td").all_inner_texts()
    assert HOSTILE_AGENT in cells
    page.locator("a.ev").first.click()
    page.wait_for_url(re.compile(r"/event/"))
    assert HOSTILE_AGENT in page.locator("#event-json").inner_text()
    page.goto(f"{server}/d/errors?range=all&principal={demo_lake.hostile_arn}")
    shot(page, artifacts, "hostile-errors")
    assert page.locator("img").count() == 0
    assert page.dialogs == []
