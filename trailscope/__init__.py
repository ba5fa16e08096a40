"""trailscope: AWS CloudTrail logs in, answers out.

>>> import trailscope
>>> lake = trailscope.open_lake("./lake")          # doctest: +SKIP
>>> lake.info().events                             # doctest: +SKIP
"""

from trailscope.errors import TrailscopeError
from trailscope.facade import Lake, LakeInfo, open_lake
from trailscope.lake.ingest import IngestSummary

__version__ = "0.1.0"
__all__ = ["IngestSummary", "Lake", "LakeInfo", "TrailscopeError", "__version__", "open_lake"]
