"""Builders shared by services whose calls differ only in one request parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.kind import Builder, no_parameters
from trailscope.synth.world import Resources

__all__ = ["fixed", "no_parameters", "one_resource"]


def fixed(parameters: dict[str, Any]) -> Builder:
    """A call whose request parameters never change."""

    def build(call: CallContext) -> dict[str, Any]:
        return {"requestParameters": parameters, "responseElements": None}

    return build


def one_resource(
    parameter: str, choices: Callable[[Resources], Sequence[str]], *, as_list: bool = False
) -> Builder:
    """A call whose only parameter names one resource of the account/region."""

    def build(call: CallContext) -> dict[str, Any]:
        value = call.pick(choices(call.resources))
        return {
            "requestParameters": {parameter: [value] if as_list else value},
            "responseElements": None,
        }

    return build
