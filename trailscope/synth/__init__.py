"""Synthetic CloudTrail trails: realistic, deterministic and fast.

Why this exists: the demo, the round-trip tests and the benchmarks all need CloudTrail data that
looks like the real thing *on disk* (the S3 key layout, delivery-date folders, digest chains,
Insights files, re-delivered events, objects that are not logs at all), but real trails cannot be
shipped. :func:`synth_trail` writes such a trail from a seed and reports exactly what it wrote, so
a correct ingest can be checked against the report instead of against hard-coded numbers.

How it stays fast (benchmarks write millions of events): see :mod:`trailscope.synth.templates`.
How it stays deterministic: all randomness comes from ``random.Random`` instances seeded from
``seed`` and a purpose label (world, plan, events, stories, insights, digests, re-delivery), so
one part never shifts another; identifiers that must be stable (session keys, principal IDs) are
derived by hashing; files are produced in a fixed order; gzip headers carry no timestamp; digest
signatures use PKCS#1 v1.5, which is deterministic too.

The package, by concern: ``clock`` and ``ids``; the world (``people``, ``principals``,
``world``); the ``catalogue`` of API calls, a module per AWS service; ``events`` (the envelope of
an event) and ``templates`` (the everyday mix as byte templates); the ``planner``; ``scripting``,
``stories`` and ``incidents``; ``insights`` and ``digests``; ``keys`` (the S3 layout); ``sinks``
(a folder or a bucket); ``poison`` (objects ingest must quarantine); and the entry points,
``trail`` (all at once) and ``live`` (as CloudTrail delivers it).
"""

from trailscope.synth.incidents import INCIDENTS, PlantedIncident
from trailscope.synth.keys import PUBLIC_KEY_FILE, SAMPLE_BUCKET, SIGNATURES_FILE
from trailscope.synth.live import Delivery, LiveTrail
from trailscope.synth.poison import POISON_KINDS, PoisonFile
from trailscope.synth.sinks import DirectorySink, S3Sink, Sink
from trailscope.synth.trail import DEFAULT_END, SynthReport, synth_trail

__all__ = [
    "DEFAULT_END",
    "INCIDENTS",
    "POISON_KINDS",
    "PUBLIC_KEY_FILE",
    "SAMPLE_BUCKET",
    "SIGNATURES_FILE",
    "Delivery",
    "DirectorySink",
    "LiveTrail",
    "PlantedIncident",
    "PoisonFile",
    "S3Sink",
    "Sink",
    "SynthReport",
    "synth_trail",
]
