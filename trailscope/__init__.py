"""trailscope: AWS CloudTrail logs in, answers out.

>>> import trailscope
>>> lake = trailscope.open_lake("./lake")          # doctest: +SKIP
>>> lake.info().events                             # doctest: +SKIP

Everything a command does is a :class:`Lake` method (ingest, query, run, detect, verify,
export, ...); :func:`synth_trail` writes a realistic sample trail to try them on. The names
of results (reports, findings) are here too, for type annotations.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from trailscope.errors import TrailscopeError
from trailscope.facade import Lake, LakeInfo, QueryEngine, open_lake
from trailscope.lake.ingest import IngestSummary

if TYPE_CHECKING:
    from trailscope.detect.model import DetectionReport, Finding
    from trailscope.integrity.report import VerifyReport
    from trailscope.synth.trail import SynthReport, synth_trail

__version__ = "0.1.0"
__all__ = [
    "DetectionReport",
    "Finding",
    "IngestSummary",
    "Lake",
    "LakeInfo",
    "QueryEngine",
    "SynthReport",
    "TrailscopeError",
    "VerifyReport",
    "__version__",
    "open_lake",
    "synth_trail",
]

#: Names imported on first use: ``import trailscope`` stays light (ingest starts its worker
#: processes before pyarrow and the decoder load).
_LAZY = {
    "DetectionReport": "trailscope.detect.model",
    "Finding": "trailscope.detect.model",
    "SynthReport": "trailscope.synth.trail",
    "VerifyReport": "trailscope.integrity.report",
    "synth_trail": "trailscope.synth.trail",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trailscope' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
