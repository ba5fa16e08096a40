"""Downloads: the whole result of a panel, an Explore view, the events list or a workbench query.

The result is streamed from the engine, batch by batch, into a spool file (memory up to a few
MB, then disk) under the query's time limit, and only then sent: a query that hits its limit
still gets a clear error with its status, never a 200 cut off half-way (the status line is sent
before the body). The file is then streamed to the browser in chunks.

CSV cells that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@`` first) get a
leading apostrophe, as OWASP advises: an event field is attacker-controlled text, and a
downloaded CSV is usually opened in a spreadsheet. JSON and NDJSON are left as they are.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from trailscope import export
from trailscope.errors import TrailscopeError
from trailscope.web.lakeview import LakeView, _used_params

FORMATS = {
    "csv": ("text/csv; charset=utf-8", export.write_csv),
    "json": ("application/json", export.write_json),
    "ndjson": ("application/x-ndjson", export.write_ndjson),
}
SPOOL_MEMORY = 8 * 1024 * 1024
CHUNK = 256 * 1024


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise TrailscopeError(f"unknown download format {fmt!r}", hint="csv, json or ndjson")


def download_rows(
    view: LakeView, athena_sql: str, params: dict[str, Any], fmt: str, *, user: bool = False
) -> IO[bytes]:
    """Run ``athena_sql`` and write its whole result in ``fmt`` to a spool file (rewound)."""
    check_format(fmt)
    translation = view.translate(athena_sql, params)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 (the response closes it)
    try:
        with view.reader(
            translation.sql, _used_params(translation.sql, params), user=user
        ) as reader:
            plain = pa.RecordBatchReader.from_batches(reader.schema, iter(reader))
            source = export.defuse_formulas(plain) if fmt == "csv" else plain
            FORMATS[fmt][1](source, spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def download_response(body: IO[bytes], name: str, fmt: str) -> StreamingResponse:
    """Send a spooled download in chunks, then close (and delete) the spool."""

    def chunks() -> Iterator[bytes]:
        while True:
            block = body.read(CHUNK)
            if not block:
                return
            yield block

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "download"
    return StreamingResponse(
        chunks(),
        media_type=FORMATS[fmt][0],
        headers={"Content-Disposition": f'attachment; filename="{safe}.{fmt}"'},
        background=BackgroundTask(body.close),
    )
