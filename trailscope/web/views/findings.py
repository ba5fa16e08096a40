"""The findings the lake remembers, on the web: their status, one finding's page, and the
acknowledge and suppress forms.

The list shows on the Detections page (:func:`stored_findings`); ``/detections/findings/ID``
is one finding (the link alerts carry); its forms POST to ``.../ack`` and ``.../suppress``,
which pass the server's token and CSRF checks like every POST (:mod:`trailscope.web.security`)
and answer with a redirect back (HTML) or the changed finding (``/api/findings/ID/...``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse

from trailscope.errors import TrailscopeError
from trailscope.findings.errors import FindingsError
from trailscope.findings.manage import STATUSES, get_finding, list_findings, set_status, suppress
from trailscope.findings.suppressions import parse_duration
from trailscope.web.panels import event_link
from trailscope.web.views.base import Call, NotFound, Page, View

#: Stored findings listed on the Detections page (the JSON twin and the CLI have them all).
MAX_LISTED = 200
#: What the suppress form offers (empty: for ever).
DURATIONS = ("1d", "7d", "30d", "90d", "")
MAX_NOTE = 500


def stored_findings(lake: Any, status: str | None) -> dict[str, Any]:
    """The Detections page's list of stored findings, with counts by status."""
    if status and status not in STATUSES:
        raise TrailscopeError(f"unknown status {status!r}", hint="one of " + ", ".join(STATUSES))
    rows = list_findings(lake)
    counts = {s: 0 for s in STATUSES}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    chosen = [_public(r) for r in rows if not status or r["status"] == status]
    return {
        "status": status or None,
        "by_status": counts,
        "total": len(chosen),
        "findings": chosen[:MAX_LISTED],
    }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A stored finding as the page and its JSON twin show it."""
    out = {k: v for k, v in row.items() if k != "group_key"}
    out["event_ids"] = list(row.get("event_ids") or ())
    out["href"] = f"/detections/findings/{quote(row['finding_id'])}"
    return out


def _finding(lake: Any, call: Call) -> dict[str, Any]:
    try:
        return get_finding(lake, call.param("finding_id"))
    except FindingsError as exc:
        raise NotFound(exc.message, hint=exc.hint) from None


class FindingView(View):
    """``/detections/findings/ID``: one stored finding, its events, and what can be done."""

    def page(self, call: Call) -> Page:
        row = _public(_finding(self.site.lake, call))
        links = [event_link(e, None) for e in row["event_ids"][:50]]
        context = {
            "data": row,
            "f": row,
            "links": links,
            "durations": DURATIONS,
            "here": "/detections",
        }
        return Page(row, "finding.html", context)


class FindingAction(View):
    """``POST .../ack`` and ``.../suppress`` (``action``): change a finding, then go back."""

    def __init__(self, site: Any, action: str) -> None:
        super().__init__(site)
        self.action = action

    def page(self, call: Call) -> Page:
        row = _finding(self.site.lake, call)
        note = (call.form.get("note") or "").strip()[:MAX_NOTE] or None
        lake = self.site.lake
        data: dict[str, Any]
        if self.action == "ack":
            changed = set_status(lake, row["finding_id"], "acknowledged", note=note)
            data = {"finding": _public(changed)}
        elif self.action == "suppress":
            text = (call.form.get("for") or "").strip()
            if text and text not in DURATIONS:
                raise TrailscopeError(
                    f"unknown duration {text!r}",
                    hint="one of " + ", ".join(d for d in DURATIONS if d),
                )
            duration = parse_duration(text) if text else None
            suppression, count = suppress(
                lake, finding=row["finding_id"], duration=duration, note=note
            )
            data = {
                "suppression": suppression,
                "suppressed": count,
                "finding": _public(get_finding(lake, row["finding_id"])),
            }
        else:  # pragma: no cover - routes name only the actions above
            raise NotFound(f"no action {self.action!r}")
        if call.fmt != "html":
            return Page(data)
        back = call.form.get("back") or ""
        target = (
            back if back.startswith("/detections") and "//" not in back else _public(row)["href"]
        )
        return Page(data, response=RedirectResponse(target, status_code=303))


def routes(site: Any) -> list[tuple[str, View, str, list[str]]]:
    """The routes of stored findings (registered with the other views)."""
    one, ack, sup = FindingView(site), FindingAction(site, "ack"), FindingAction(site, "suppress")
    get = ["GET", "HEAD"]
    return [
        ("/detections/findings/{finding_id}.json", one, "json", get),
        ("/detections/findings/{finding_id}", one, "html", get),
        ("/api/findings/{finding_id}", one, "json", get),
        ("/detections/findings/{finding_id}/ack", ack, "html", ["POST"]),
        ("/detections/findings/{finding_id}/suppress", sup, "html", ["POST"]),
        ("/api/findings/{finding_id}/ack", ack, "json", ["POST"]),
        ("/api/findings/{finding_id}/suppress", sup, "json", ["POST"]),
    ]
