"""What an analyst does in a real browser (headless chromium against a real ``trailscope serve``):
zoom by drag, sort, download, change the time zone, search, filter by part of a name, read
every chart with the keyboard, use a phone; and what axe-core finds on every page.

Numbers on the page are checked against the same question asked through the Python API or
against plain Python over the trail's raw events. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from web_expect import principal, search_text
from web_support import TOKEN

from trailscope.web.dashboards import load_builtin
from trailscope.web.explore import CLASSICS

pytestmark = pytest.mark.slow

DASHBOARDS = load_builtin()
PAGES = [
    *(f"/d/{name}?range=all" for name in DASHBOARDS),
    "/events?range=all",
    "/explore?range=all&dim=sourceipaddress&split=useridentity.type",
    "/explore?range=all&dim=eventname&chart=donut",
    "/explore?range=all&dim=hour&split=weekday&chart=heatmap",
    "/explore?range=all&dim=time&split=eventsource&chart=area",
    "/detections?range=all",
    "/workbench?q=failed-console-logins&run=1&p_since=2024-07-01",
    "/status",
    "/d/nosuch",
]


def count(lake: Any, where: str, params: dict[str, Any] | None = None) -> int:
    sql = f"SELECT count(*) AS n FROM cloudtrail WHERE {where}"
    return lake.query(sql, params=params).to_pylist()[0]["n"]


def tile(page: Any, panel: str, stat: str) -> int:
    text = page.locator(f"#panel-{panel} [data-stat='{stat}'] dd").inner_text()
    return int(text.replace(",", ""))


def shot(page: Any, artifacts: Any, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def slug(url: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-")[:60]


@pytest.fixture
def phone(browser: Any, server: str) -> Any:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    pg = context.new_page()
    pg.goto(f"{server}/?token={TOKEN}")
    yield pg
    context.close()


# ------------------------------------------------------------------ accessibility


@pytest.mark.parametrize("url", PAGES)
def test_no_serious_accessibility_violations(page, server, artifacts, url):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(server + url)
    page.wait_for_function("document.body.dataset.ready === '1'")
    results = Axe().run(page)
    serious = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    shot(page, artifacts, f"a11y-{slug(url)}")
    assert serious == []


def test_charts_are_one_tab_stop_with_keys_tooltips_and_a_text_alternative(page, server):
    page.goto(f"{server}/d/errors?range=all")
    page.wait_for_function("document.body.dataset.ready === '1'")
    figure = page.locator("#panel-by_code figure.chart")
    # one stop for the chart itself: its bars' links are reached with the arrow keys
    stops = figure.evaluate(
        """f => [f, ...f.querySelectorAll('a, button, [tabindex]')].filter(e =>
             e.tabIndex >= 0 && !e.closest('ul.legend') && !e.closest('details')).length"""
    )
    assert stops == 1
    assert figure.get_attribute("aria-label").startswith("By error code: ")
    figure.focus()
    page.keyboard.press("ArrowDown")
    tip = page.locator("#tip")
    assert tip.is_visible()
    first = page.locator("#panel-by_code table.bars tbody tr").first
    assert tip.inner_text() == first.get_attribute("data-tip")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/events\?"))
    assert "errorcode=" in page.url
    # the time chart: its values as a table for screen readers (and anyone)
    page.goto(f"{server}/d/errors?range=all")
    data = page.locator("#panel-over_time details.data")
    assert data.locator("tbody tr").count() > 0


def test_skip_link_and_selects_that_do_not_reload_on_arrow_keys(page, server, lake):
    page.goto(f"{server}/d/overview?range=all")
    page.wait_for_function("document.body.dataset.ready === '1'")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    before = page.url
    page.focus("select[name='account']")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(500)
    assert page.url == before  # moving through the choices does not apply them
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"account=\d+"))


def test_success_and_failure_differ_without_colour(page, server):
    page.goto(f"{server}/d/logins?range=all")
    fills = page.locator("#panel-over_time rect.mark").evaluate_all(
        "rs => rs.map(r => r.getAttribute('fill'))"
    )
    assert any(f.startswith("url(#pat-hatch") for f in fills)  # Failure: hatched
    assert any(f == "#0072B2" for f in fills)  # Success: plain


# ------------------------------------------------------------------ text at its true size


@pytest.mark.parametrize("width", [1440, 390])
def test_chart_text_renders_at_its_css_size(browser, server, artifacts, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{server}/?token={TOKEN}")
    try:
        for url in (
            "/d/overview?range=all",
            "/explore?range=all&dim=hour&split=weekday&chart=heatmap",
        ):
            page.goto(server + url)
            sizes = page.evaluate(
                """() => [...document.querySelectorAll(
                       'svg text, table.bars th.blab, table.heat td, table.bars td.bval')]
                     .filter(e => e.getClientRects().length)
                     .map(e => {
                       const css = parseFloat(getComputedStyle(e).fontSize);
                       const m = e.getScreenCTM ? e.getScreenCTM() : null;
                       const scale = m ? Math.hypot(m.a, m.b) : 1;
                       return [css, css * scale];
                     })"""
            )
            assert len(sizes) > 20
            for css, shown in sizes:
                assert abs(shown - css) <= 0.1 * css, (url, css, shown)
                assert css >= 11
            shot(page, artifacts, f"text-size-{width}-{slug(url)}")
    finally:
        context.close()


def test_every_page_is_usable_on_a_390px_phone(phone, server, artifacts):
    for url in PAGES[:-1]:
        phone.goto(server + url)
        phone.wait_for_function("document.body.dataset.ready === '1'")
        links = phone.locator("header.top nav a")
        n = links.count()
        assert n >= 10
        for i in range(n):
            box = links.nth(i).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 391, (url, i, box)
        wide = phone.evaluate("document.documentElement.scrollWidth")
        assert wide <= 391, (url, wide)  # wide tables scroll inside their own box
        shot(phone, artifacts, f"phone-{slug(url)}")


# ------------------------------------------------------------------ what analysts do


def test_zoom_by_drag_narrows_the_whole_page_and_resets(page, server, lake, artifacts):
    page.goto(f"{server}/d/overview?range=all")
    page.wait_for_function("document.body.dataset.ready === '1'")
    plot = page.locator("#panel-over_time svg.plot")
    box = plot.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.40, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r"range=custom"))
    query = parse_qs(urlsplit(page.url).query)
    since, until = query["since"][0], query["until"][0]
    assert since < until
    expected = count(
        lake,
        "eventtime_ts >= from_iso8601_timestamp(:s) AND eventtime_ts <= from_iso8601_timestamp(:u)",
        {"s": since, "u": until},
    )
    assert tile(page, "totals", "events") == expected > 0
    shot(page, artifacts, "zoomed")
    page.click("a.reset")
    page.wait_for_url(re.compile(r"range=all"))
    assert tile(page, "totals", "events") == count(lake, "true")


def test_sort_a_table_and_choose_its_columns(page, server, artifacts):
    page.goto(f"{server}/d/errors?range=all")
    page.wait_for_function("document.body.dataset.ready === '1'")
    table = page.locator("#tbl-repeated")
    head = table.locator("th[data-col='calls'] button.sort")
    head.click()
    calls = [int(t) for t in table.locator("tbody td:nth-child(4)").all_inner_texts()]
    assert calls == sorted(calls) and len(set(calls)) > 1
    head.click()
    calls = [int(t) for t in table.locator("tbody td:nth-child(4)").all_inner_texts()]
    assert calls == sorted(calls, reverse=True)
    assert table.locator("th[data-col='calls']").get_attribute("aria-sort") == "descending"
    # hide a column; the principal and the drill link stay in view
    page.click("#panel-repeated details.cols summary")
    page.uncheck("#panel-repeated details.cols label:has-text('sample_message') input")
    assert table.locator("th[data-col='sample_message']").is_hidden()
    assert table.locator("tbody tr").first.locator("a.drill").is_visible()
    shot(page, artifacts, "sorted-table")


def test_download_the_whole_events_list_as_csv(page, server, lake):
    page.goto(f"{server}/events?range=all&errors=only")
    with page.expect_download() as info:
        page.click("#dl-events-csv")
    with open(info.value.path(), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == count(lake, "errorcode IS NOT NULL") > 50  # every page, not one
    assert {r["errorcode"] for r in rows} and all(r["errorcode"] for r in rows)


def test_time_zone_selector_shows_local_times(page, server, lake, artifacts):
    page.goto(f"{server}/events?range=all")
    first = page.locator("table.events tbody tr").first.locator("time")
    utc = first.get_attribute("datetime")
    page.select_option("select[name='tz']", "Asia/Tokyo")
    page.wait_for_url(re.compile(r"tz=Asia%2FTokyo"))
    shown = page.locator("table.events tbody tr").first.locator("time")
    assert shown.get_attribute("datetime") == utc
    moment = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = (moment + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S")
    assert shown.inner_text() == f"{local} JST"
    assert "JST" in page.locator("#range").inner_text()
    shot(page, artifacts, "events-tokyo")
    # the zone stays while moving between pages
    page.click("header.top nav a:has-text('Errors')")
    page.wait_for_url(re.compile(r"/d/errors\?.*tz=Asia%2FTokyo"))


def test_free_text_search_and_principal_substring(page, server, demo_lake, artifacts):
    page.goto(f"{server}/events?range=all")
    page.fill("input[name='q']", "ConsoleLogin -Success")
    page.click("form.filters button[type='submit']")
    page.wait_for_url(re.compile(r"q=ConsoleLogin"))
    expected = sum(
        1
        for ev in demo_lake.events
        if "consolelogin" in search_text(ev) and "success" not in search_text(ev)
    )
    assert int(page.locator("#total").inner_text().replace(",", "")) == expected > 0
    # a user name inside ARNs, in the wrong case
    arns = {principal(ev) for ev in demo_lake.events if principal(ev)}
    name = next(a for a in sorted(arns) if ":user/" in a).rsplit("/", 1)[1]
    page.fill("input[name='q']", "")
    page.fill("input[name='principal']", name.upper())
    page.click("form.filters button[type='submit']")
    page.wait_for_url(re.compile(r"principal="))
    said = page.locator("#principal-matched").inner_text()
    assert f"principal contains “{name.upper()}” (any case)" in said
    matching = [a for a in arns if name.lower() in a.lower()]
    assert sum(1 for ev in demo_lake.events if principal(ev) in matching) == int(
        page.locator("#total").inner_text().replace(",", "")
    )
    shot(page, artifacts, "principal-substring")


def test_legend_toggles_a_series(page, server, artifacts):
    page.goto(f"{server}/d/overview?range=all")
    page.wait_for_function("document.body.dataset.ready === '1'")
    panel = page.locator("#panel-over_time")
    visible = "rs => rs.filter(r => !r.classList.contains('hidden-series')).length"
    before = panel.locator("rect.mark").evaluate_all(visible)
    button = panel.locator("ul.legend button.toggle").first
    button.click()
    assert button.get_attribute("aria-pressed") == "false"
    after = panel.locator("rect.mark").evaluate_all(visible)
    assert 0 < after < before
    button.click()
    assert panel.locator("rect.mark").evaluate_all(visible) == before


@pytest.mark.parametrize("name", list(CLASSICS))
def test_classic_views_built_through_explore(page, server, lake, artifacts, name):
    title = CLASSICS[name][0]
    page.goto(f"{server}/explore?range=all")
    page.click("details.classics summary")
    page.click(f"details.classics a:has-text({title[:30]!r})")
    page.wait_for_url(re.compile(r"dim="))
    assert page.locator("#panel-explore .error").count() == 0
    shot(page, artifacts, f"classic-{name}")
    if name == "kibana-console-operations":
        rows = page.locator("table.slices tbody tr")
        shown = {
            rows.nth(i).locator("th").inner_text().strip(): int(
                rows.nth(i).locator("td").first.inner_text().replace(",", "")
            )
            for i in range(rows.count())
        }
        expected = lake.query(
            "SELECT eventname, count(*) AS n FROM cloudtrail "
            "WHERE useragent = 'console.amazonaws.com' GROUP BY 1"
        ).to_pylist()
        assert shown == {r["eventname"]: r["n"] for r in expected}
    elif name == "looker-general-operations-heatmap":
        cells = page.locator("table.heat td a").all_inner_texts()
        assert sum(int(c.replace(",", "")) for c in cells) == count(lake, "true")
        monday_9 = page.locator("table.heat tbody tr").nth(0).locator("td").nth(9)
        expected = count(lake, "isodow(eventtime_ts) = 1 AND hour(eventtime_ts) = 9")
        assert int(monday_9.inner_text().replace(",", "") or 0) == expected
    elif name == "quicksight-ips-by-identity-type":
        rows = page.locator("figure.bchart table.bars tbody tr")
        first_ip = rows.first.locator("th a").get_attribute("title").split(":")[0]
        total = int(rows.first.locator("td.bval").inner_text().replace(",", ""))
        assert total == count(lake, "sourceipaddress = :ip", {"ip": first_ip})
        assert page.locator("figure.bchart ul.legend li").count() >= 2  # coloured by type
    else:
        table = page.locator("figure.tchart details.data table")
        header = table.locator("thead th").all_text_contents()[1:]  # closed: text, not shown
        totals = dict.fromkeys(header, 0)
        for row in table.locator("tbody tr").all():
            cells = row.locator("td").all_text_contents()[1:]
            for key, cell in zip(header, cells, strict=True):
                totals[key] += int(cell.replace(",", ""))
        expected = lake.query(
            "SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventname LIKE '%StopInstance%'"
            " OR eventname LIKE '%StartInstance%' OR eventname LIKE '%RunInstance%'"
            " OR eventname LIKE '%TerminateInstance%' GROUP BY 1"
        ).to_pylist()
        assert {k: v for k, v in totals.items() if v} == {r["eventname"]: r["n"] for r in expected}
