"""Safe by default: escaping of attacker-controlled fields, a read-only workbench that can read
the lake and nothing else, time limits, the access token, and where the server may listen."""

from __future__ import annotations

import os
import re
from html import unescape
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_support import (
    HOSTILE_AGENT,
    HOSTILE_BUCKET,
    HOSTILE_ERROR,
    HOSTILE_IP,
    HOSTILE_USER,
)

from trailscope.cli import app as cli_app
from trailscope.errors import TrailscopeError
from trailscope.web import create_app, serve
from trailscope.web.lakeview import LakeView

RAW = ("<script>alert", "<img src=x", "<svg onload", "</pre><script>")


def _assert_escaped(html: str) -> None:
    for needle in RAW:
        assert needle not in html, f"unescaped {needle!r} in the page"


def test_hostile_user_agent_renders_as_text_in_the_events_table(client, demo_lake):
    r = client.get(f"/events?range=all&ip={HOSTILE_IP}")
    assert r.status_code == 200
    _assert_escaped(r.text)
    assert "&lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;" in r.text
    assert HOSTILE_AGENT in unescape(r.text)


def test_hostile_fields_render_as_text_in_the_event_json(client, demo_lake):
    r = client.get(f"/event/{demo_lake.hostile_ids[0]}")
    _assert_escaped(r.text)
    shown = unescape(
        re.search(r'<pre class="json" id="event-json"[^>]*>(.*?)</pre>', r.text, re.S)[1]
    )
    assert f'"userAgent": "{HOSTILE_AGENT}"' in shown
    assert HOSTILE_BUCKET in shown
    assert (
        client.get(f"/api/event/{demo_lake.hostile_ids[0]}").json()["events"][0][
            "requestParameters"
        ]["bucketName"]
        == HOSTILE_BUCKET
    )


def test_hostile_names_render_as_text_in_svg_titles_and_labels(client, demo_lake):
    r = client.get("/d/errors", params={"range": "all", "principal": demo_lake.hostile_arn})
    _assert_escaped(r.text)
    titles = [unescape(t) for t in re.findall(r"<title>(.*?)</title>", r.text, re.S)]
    assert any(t.startswith(f"{HOSTILE_ERROR}: 3") for t in titles), titles
    assert any(HOSTILE_USER in t for t in titles)
    overview = client.get(
        "/d/overview", params={"range": "all", "principal": demo_lake.hostile_arn}
    )
    _assert_escaped(overview.text)
    # the principal also sits in the filter bar's input and in every link
    assert f'value="{demo_lake.hostile_arn}"' not in overview.text


def test_security_headers(client):
    r = client.get("/d/overview")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text.replace('<script src="/static/app.js" defer></script>', "")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "only queries can run here, not COPY"),
        (
            "ATTACH '/tmp/other.duckdb' AS other",
            "cannot parse the SQL: Invalid expression / Unexpected token (line 1, column 26)",
        ),
        # sqlglot reads INSTALL as an alias: the statement kind in the message may change
        ("INSTALL httpfs", "only queries can run here, not "),
        ("LOAD httpfs", "only queries can run here, not "),
        ("SET enable_external_access = true", "only queries can run here, not SET"),
        ("CREATE TABLE t AS SELECT 1", "only queries can run here, not CREATE"),
        ("INSERT INTO cloudtrail (eventid) VALUES ('x')", "only queries can run here, not INSERT"),
        ("DROP VIEW cloudtrail", "only queries can run here, not DROP"),
        (
            "SELECT * FROM read_csv('/etc/passwd')",
            'Permission Error: Cannot access file "/etc/passwd" - file system operations are '
            "disabled by configuration",
        ),
        (
            "SELECT * FROM read_text('/etc/hostname')",
            'Permission Error: Cannot access file "/etc/hostname" - file system operations are '
            "disabled by configuration",
        ),
        ("SELECT 1; DROP VIEW cloudtrail", "expected one statement, found 2"),
    ],
)
def test_workbench_refuses_everything_but_reading_the_lake(client, sql, message):
    r = client.post("/api/query", json={"sql": sql})
    assert r.status_code == 400
    if message.endswith("not "):
        assert r.json()["error"].startswith(message)
    else:
        assert r.json()["error"] == message


def test_the_engine_itself_is_locked_down(demo_lake, tmp_path):
    """Even SQL that never went through the parser cannot write, attach, install or read
    anything but the lake's files."""
    view = LakeView(demo_lake.path)
    target = tmp_path / "out.csv"
    refused = [
        f"COPY (SELECT 1) TO '{target}'",
        f"ATTACH '{tmp_path / 'x.duckdb'}' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_json('http://127.0.0.1:9/x.json')",
        "SELECT * FROM glob('/etc/*')",
        "SET enable_external_access = true",
        "SET allowed_paths = ['/etc/passwd']",
        "RESET lock_configuration",
    ]
    lake_file = str(view.lake.files()[0])
    with view.snapshot() as snap:
        # the pool's connections and the engine's own (the Python API's) are one database
        connections = [snap.engine, *snap.connections]
        assert len(connections) == 5
        for con in (c.con for c in connections):
            for sql in refused:
                with pytest.raises(duckdb.Error):
                    con.execute(sql)
            with pytest.raises(duckdb.Error):  # not even over the lake's own files
                con.execute(f"COPY (SELECT 1) TO '{lake_file}' (FORMAT parquet)")
            n = con.execute(f"SELECT count(*) FROM read_parquet('{lake_file}')").fetchone()
            assert n[0] > 0  # reading the lake still works
    view.close()
    assert not target.exists() and not (tmp_path / "x.duckdb").exists()
    assert os.listdir(tmp_path) == []


def test_queries_run_side_by_side_answer_in_place_each_with_its_time_limit(demo_lake):
    view = LakeView(demo_lake.path, timeout=0.5, cache_size=0)
    slow = (
        "SELECT count(*) FROM cloudtrail a, cloudtrail b, cloudtrail c WHERE a.eventid < c.eventid"
    )
    asks = [
        ("SELECT count(*) AS n FROM cloudtrail WHERE eventname = :name", {"name": "ConsoleLogin"}),
        (slow, None),
        ("SELECT nosuchcolumn FROM cloudtrail", None),
        ("SELECT count(*) AS n FROM cloudtrail", None),
        ("SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC, 1", None),
    ]
    answers = view.query_many(asks)
    logins = sum(e["eventName"] == "ConsoleLogin" for e in demo_lake.events)
    assert answers[0].rows == [{"n": logins}]
    assert answers[1].message == "query cancelled after 0.5 s (the time limit)"
    assert "nosuchcolumn" in answers[2].message
    assert answers[3].rows == [{"n": len(demo_lake.events)}]
    one_by_one = view.query(asks[4][0])
    assert answers[4].rows == one_by_one.rows and len(one_by_one.rows) > 5
    view.close()


def test_queries_have_a_time_limit(demo_lake):
    view = LakeView(demo_lake.path, timeout=0.3)
    slow = (
        "SELECT count(*) FROM cloudtrail a, cloudtrail b, cloudtrail c WHERE a.eventid < c.eventid"
    )
    with pytest.raises(TrailscopeError) as exc:
        view.query(slow)
    assert exc.value.message == "query cancelled after 0.3 s (the time limit)"
    assert view.query("SELECT count(*) AS n FROM cloudtrail").rows[0]["n"] == len(demo_lake.events)
    view.close()


def test_requests_without_the_token_get_401(demo_lake):
    token = "correct-horse-battery"
    c = TestClient(create_app(demo_lake.path, token=token))
    for path in ("/d/overview", "/events", "/workbench", "/status", "/static/app.css"):
        assert c.get(path, follow_redirects=False).status_code == 401
    assert c.get("/api/status").status_code == 401
    assert (
        c.get("/api/status")
        .json()["error"]
        .startswith("this trailscope server needs its access token")
    )
    assert c.post("/api/query", json={"sql": "SELECT 1"}).status_code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert c.get("/api/status", headers=bad).status_code == 401
    assert c.get("/api/status?token=wrong").status_code == 401
    good = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/status", headers=good).status_code == 200
    # ?token= once: a cookie, and a redirect that drops the token from the address
    r = c.get(f"/d/errors?range=24h&token={token}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/d/errors?range=24h"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert c.get("/d/errors?range=24h").status_code == 200  # the cookie carries it now


def test_loopback_server_answers_only_loopback_host_names(demo_lake):
    c = TestClient(create_app(demo_lake.path, loopback_only=True), base_url="http://127.0.0.1:8700")
    assert c.get("/api/status").status_code == 200
    assert c.get("/api/status", headers={"Host": "localhost:8700"}).status_code == 200
    r = c.get("/api/status", headers={"Host": "attacker.example:8700"})
    assert r.status_code == 400


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_non_loopback_bind_without_a_token_is_refused(demo_lake, host):
    with pytest.raises(TrailscopeError) as exc:
        serve(demo_lake.path, host=host, port=1)
    assert exc.value.message == (
        f"refusing to listen on {host} without an access token: anyone who can reach this "
        "address could read the lake"
    )
    assert exc.value.hint.startswith("add --token ")


def test_cli_refuses_a_non_loopback_bind_without_a_token(demo_lake):
    result = CliRunner().invoke(
        cli_app, ["serve", "--lake", str(demo_lake.path), "--host", "0.0.0.0"]
    )
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without an access token" in result.output


def test_no_token_opt_out_and_on_ready(demo_lake):
    """--no-token lets a server listen beyond loopback; on_ready gets the address once it
    listens (stopped from on_ready itself by sending ourselves SIGINT would race pytest, so
    the server runs in a thread and is asked to exit)."""
    import threading

    import uvicorn
    from web_support import free_port

    port = free_port()
    seen: list[str] = []
    servers: list[uvicorn.Server] = []
    original = uvicorn.Server.run

    def run(self: uvicorn.Server, *a, **k):  # remember the server to stop it
        servers.append(self)
        return original(self, *a, **k)

    uvicorn.Server.run = run  # type: ignore[method-assign]
    try:
        t = threading.Thread(
            target=serve,
            args=(demo_lake.path,),
            kwargs={
                "host": "0.0.0.0",
                "port": port,
                "allow_no_token": True,
                "on_ready": seen.append,
            },
            daemon=True,
        )
        t.start()
        for _ in range(300):
            if seen:
                break
            threading.Event().wait(0.05)
        assert seen == [f"http://127.0.0.1:{port}/"]
        assert httpx.get(f"http://127.0.0.1:{port}/api/status").status_code == 200
    finally:
        uvicorn.Server.run = original  # type: ignore[method-assign]
        for s in servers:
            s.should_exit = True
        t.join(10)
    assert not t.is_alive()
    assert Path(demo_lake.path).exists()


def test_a_busy_port_is_a_clear_error(demo_lake):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(TrailscopeError) as exc:
            serve(demo_lake.path, port=port)
    assert exc.value.message == f"cannot listen on 127.0.0.1 port {port}: Address already in use"


def test_closing_a_view_stops_its_warm_up_and_refuses_more(demo_lake):
    import threading
    import time

    from trailscope.web.dashboards import load_builtin
    from trailscope.web.views.dashboard import warm

    view = LakeView(demo_lake.path, cache_size=0)
    warming = threading.Thread(target=warm, args=(view, load_builtin()), daemon=True)
    warming.start()
    time.sleep(0.05)
    view.close()
    warming.join(10)
    assert not warming.is_alive()
    with pytest.raises(TrailscopeError) as exc:
        view.query("SELECT 1 AS x")
    assert exc.value.message == "the lake view is closed (the server is stopping)"


def test_a_warm_up_query_interrupted_by_closing_ends_quietly_other_errors_still_raise(
    demo_lake, monkeypatch
):
    # Closing interrupts the query in flight with DuckDB's own error (not a TrailscopeError);
    # the warm-up thread used to die with it and pytest reported an unhandled thread error.
    from trailscope.web.dashboards import load_builtin
    from trailscope.web.views import dashboard as pages

    view = LakeView(demo_lake.path, cache_size=0)
    calls = []

    def interrupted(v, dash, params, filters):
        calls.append(dash)
        v.close()
        raise OSError("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr(pages, "dashboard_data", interrupted)
    pages.warm(view, load_builtin())
    assert len(calls) == 1

    other = LakeView(demo_lake.path, cache_size=0)

    def broken(v, dash, params, filters):
        raise OSError("disk on fire")

    monkeypatch.setattr(pages, "dashboard_data", broken)
    with pytest.raises(OSError, match="disk on fire"):
        pages.warm(other, load_builtin())
    other.close()


@pytest.mark.slow
def test_exit_with_a_query_running_in_a_background_thread_is_clean(demo_lake):
    """A thread still inside DuckDB when Python finalizes would abort the process ('terminate
    called ...', exit 134): views still open are closed at exit, interrupting their queries."""
    import subprocess
    import sys

    script = f"""
import threading, time
from trailscope.web.lakeview import LakeView
view = LakeView({str(demo_lake.path)!r}, timeout=60)
slow = "SELECT count(*) FROM cloudtrail a, cloudtrail b, cloudtrail c WHERE a.eventid < c.eventid"
def run():
    try:
        view.query(slow)
    except Exception as exc:
        print("stopped:", type(exc).__name__, flush=True)
threading.Thread(target=run, daemon=True).start()
time.sleep(3)
print("exiting", flush=True)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # The query is interrupted and its connection given back before the interpreter goes on
    # finalizing; the thread's own last words may be cut short by that, never the process.
    lines = done.stdout.splitlines()
    assert lines[0] == "exiting"
    assert all("stopped: QueryTimeout".startswith(line) for line in lines[1:]), lines
    assert "terminate called" not in done.stderr
