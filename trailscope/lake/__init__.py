"""The table format: partitioned Parquet plus a commit log that says what is in it.

This package is the bottom of the lake: storage, the commit log, staging and committing. The
``Lake`` object that commands and pages call lives above the engines, in
:mod:`trailscope.facade`.
"""
