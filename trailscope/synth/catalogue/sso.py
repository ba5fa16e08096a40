"""IAM Identity Center's access portal: accounts, roles and credentials of a signed-in user."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.kind import Builder
from trailscope.synth.people import SSO_PERMISSION_SETS

SOURCE = "sso.amazonaws.com"


def portal_call(name: str) -> Builder:
    """ListAccounts, ListAccountRoles or GetRoleCredentials for one of the accounts."""

    def build(call: CallContext) -> dict[str, Any]:
        account = call.pick(call.world.accounts).id
        parameters: dict[str, Any] | None = None
        if name == "ListAccountRoles":
            parameters = {"accountId": account}
        elif name == "GetRoleCredentials":
            parameters = {"accountId": account, "roleName": call.pick(SSO_PERMISSION_SETS)}
        return {"requestParameters": parameters, "responseElements": None}

    return build
