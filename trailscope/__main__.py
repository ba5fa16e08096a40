"""``python -m trailscope``: the same as the ``trailscope`` command."""

from trailscope.cli import main

main()
