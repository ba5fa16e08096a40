"""Offline enrichment: where a source address is (country, network, AWS or not), which
account an id names, and who is behind a role session.

Results live in the lake's side tables ``ip_info`` and ``accounts``, joined by the engines at
query time (see docs/lake.md, "Enrichment"), so every engine sees the same values and a new
database refreshes them without rewriting a single event.
"""

from __future__ import annotations

from trailscope.enrich.errors import EnrichError

__all__ = ["EnrichError"]
