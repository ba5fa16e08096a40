"""The lake on Amazon Athena: table DDL, symlink manifests, parameters and scan estimates.

The query engine itself is :mod:`trailscope.engines.athena`; this package holds what it and the
``trailscope athena`` commands need that does not talk to AWS.
"""
