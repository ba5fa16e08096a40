"""Amazon EC2: describes, instance lifecycle, tags, security groups and network interfaces.

Write calls carry EC2's own ``requestId`` in their response and the same value as the event's
requestID, as EC2 logs them.
"""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.kind import Builder
from trailscope.synth.people import HUMANS

SOURCE = "ec2.amazonaws.com"
AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
AUTHORIZE_EGRESS = "AuthorizeSecurityGroupEgress"
REVOKE_INGRESS = "RevokeSecurityGroupIngress"
NETWORK_INTERFACE_FILTER: dict[str, Any] = {"networkInterfaceIdSet": {}, "filterSet": {}}


def describe_instances(call: CallContext) -> dict[str, Any]:
    draw = call.rng.random()
    if draw < 0.5:
        parameters: dict[str, Any] = {"instancesSet": {}, "filterSet": {}}
    elif draw < 0.8:
        parameters = {
            "instancesSet": {"items": [{"instanceId": call.pick(call.resources.instances)}]},
            "filterSet": {},
        }
    else:
        name = call.pick(["web-*", "worker-*", "bastion"])
        parameters = {
            "instancesSet": {},
            "filterSet": {
                "items": [{"name": "tag:Name", "valueSet": {"items": [{"value": name}]}}]
            },
        }
    return {"requestParameters": parameters, "responseElements": None}


def describe_security_groups(call: CallContext) -> dict[str, Any]:
    if call.rng.random() < 0.5:
        parameters: dict[str, Any] = {
            "securityGroupSet": {},
            "securityGroupIdSet": {},
            "filterSet": {},
        }
    else:
        group = call.pick(call.resources.security_groups)[0]
        parameters = {
            "securityGroupSet": {},
            "securityGroupIdSet": {"items": [{"groupId": group}]},
            "filterSet": {},
        }
    return {"requestParameters": parameters, "responseElements": None}


def describe_subnets(call: CallContext) -> dict[str, Any]:
    vpc_filter = {"name": "vpc-id", "valueSet": {"items": [{"value": call.resources.vpc}]}}
    return {
        "requestParameters": {"subnetSet": {}, "filterSet": {"items": [vpc_filter]}},
        "responseElements": None,
    }


def _response(call: CallContext) -> tuple[str, dict[str, Any]]:
    """EC2's plain ``{"requestId": ..., "_return": true}`` answer and its request ID."""
    request_id = call.uuid()
    return request_id, {"requestId": request_id, "_return": True}


def _arn(call: CallContext, resource: str) -> str:
    return f"arn:aws:ec2:{call.region}:{call.account.id}:{resource}"


def create_tags(call: CallContext) -> dict[str, Any]:
    request_id, response = _response(call)
    instance = call.pick(call.resources.instances)
    tag = {"key": call.pick(["Owner", "CostCenter", "Team"]), "value": call.pick(HUMANS)}
    return {
        "requestParameters": {
            "resourcesSet": {"items": [{"resourceId": instance}]},
            "tagSet": {"items": [tag]},
        },
        "responseElements": response,
        "requestID": request_id,
    }


def run_instances(call: CallContext) -> dict[str, Any]:
    resources = call.resources
    request_id = call.uuid()
    instance = f"i-0{call.hex(16)}"
    instance_type = call.pick(["t3.micro", "t3.large", "m6i.large", "c6i.xlarge"])
    image = call.pick(resources.images)
    subnet = call.pick(resources.subnets)
    group, group_name = call.pick(resources.security_groups)
    zone = call.region + call.pick("abc")
    address = f"{resources.private_prefix}{call.rng.randrange(1, 250)}.{call.rng.randrange(2, 250)}"
    domain = "ec2.internal" if call.region == "us-east-1" else f"{call.region}.compute.internal"
    dns = f"ip-{address.replace('.', '-')}.{domain}"
    token = call.uuid()
    interface = f"eni-0{call.hex(16)}"
    name = call.pick(["web", "worker", "batch", "bastion"]) + "-" + call.hex(4)
    groups = {"items": [{"groupId": group, "groupName": group_name}]}
    request = {
        "instancesSet": {"items": [{"imageId": image, "minCount": 1, "maxCount": 1}]},
        "instanceType": instance_type,
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": token,
        "networkInterfaceSet": {
            "items": [
                {"deviceIndex": 0, "subnetId": subnet, "groupSet": {"items": [{"groupId": group}]}}
            ]
        },
        "iamInstanceProfile": {
            "arn": f"arn:aws:iam::{call.account.id}:instance-profile/web-ec2-instance-role"
        },
        "tagSpecificationSet": {
            "items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": name}]}]
        },
        "metadataOptions": {"httpTokens": "required"},
    }
    reservation = f"r-0{call.hex(16)}"
    interface_item = {
        "networkInterfaceId": interface,
        "subnetId": subnet,
        "vpcId": resources.vpc,
        "ownerId": call.account.id,
        "status": "in-use",
        "macAddress": ":".join(call.hex(2) for _ in range(6)),
        "privateIpAddress": address,
        "privateDnsName": dns,
        "sourceDestCheck": True,
        "interfaceType": "interface",
        "groupSet": groups,
        "attachment": {
            "attachmentId": f"eni-attach-0{call.hex(16)}",
            "deviceIndex": 0,
            "networkCardIndex": 0,
            "status": "attaching",
            "attachTime": call.time * 1000,
            "deleteOnTermination": True,
        },
        "privateIpAddressesSet": {
            "item": [{"privateIpAddress": address, "privateDnsName": dns, "primary": True}]
        },
        "ipv6AddressesSet": {},
        "tagSet": {},
    }
    instance_item = {
        "instanceId": instance,
        "imageId": image,
        "currentInstanceBootMode": "uefi",
        "instanceState": {"code": 0, "name": "pending"},
        "privateDnsName": dns,
        "amiLaunchIndex": 0,
        "productCodes": {},
        "instanceType": instance_type,
        "launchTime": call.time * 1000,
        "placement": {"availabilityZone": zone, "tenancy": "default"},
        "monitoring": {"state": "disabled"},
        "subnetId": subnet,
        "vpcId": resources.vpc,
        "privateIpAddress": address,
        "stateReason": {"code": "pending", "message": "pending"},
        "architecture": "x86_64",
        "rootDeviceType": "ebs",
        "rootDeviceName": "/dev/xvda",
        "blockDeviceMapping": {},
        "virtualizationType": "hvm",
        "hypervisor": "xen",
        "tagSet": {"items": [{"key": "Name", "value": name}]},
        "clientToken": token,
        "groupSet": groups,
        "sourceDestCheck": True,
        "networkInterfaceSet": {"items": [interface_item]},
        "ebsOptimized": False,
        "enaSupport": True,
        "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
        "capacityReservationSpecification": {"capacityReservationPreference": "open"},
        "enclaveOptions": {"enabled": False},
        "metadataOptions": {
            "state": "pending",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 2,
            "httpEndpoint": "enabled",
            "httpProtocolIpv4": "enabled",
            "httpProtocolIpv6": "disabled",
            "instanceMetadataTags": "disabled",
        },
        "maintenanceOptions": {"autoRecovery": "default"},
        "privateDnsNameOptions": {
            "hostnameType": "ip-name",
            "enableResourceNameDnsARecord": False,
            "enableResourceNameDnsAAAARecord": False,
        },
    }
    return {
        "requestParameters": request,
        "responseElements": {
            "requestId": request_id,
            "reservationId": reservation,
            "ownerId": call.account.id,
            "groupSet": {},
            "instancesSet": {"items": [instance_item]},
            "requesterId": "",
        },
        "requestID": request_id,
    }


def instance_state_change(action: str, code: int, state: str, previous: tuple[int, str]) -> Builder:
    """Start, stop or terminate one instance: its state before and after."""

    def build(call: CallContext) -> dict[str, Any]:
        instance = call.pick(call.resources.instances)
        request_id = call.uuid()
        parameters: dict[str, Any] = {"instancesSet": {"items": [{"instanceId": instance}]}}
        if action == "StopInstances":
            parameters["force"] = False
        change = {
            "instanceId": instance,
            "currentState": {"code": code, "name": state},
            "previousState": {"code": previous[0], "name": previous[1]},
        }
        return {
            "requestParameters": parameters,
            "responseElements": {"requestId": request_id, "instancesSet": {"items": [change]}},
            "requestID": request_id,
            "_target": _arn(call, f"instance/{instance}"),
        }

    return build


def modify_instance_type(call: CallContext) -> dict[str, Any]:
    instance = call.pick(call.resources.instances)
    request_id, response = _response(call)
    instance_type = call.pick(["m6i.2xlarge", "c6i.4xlarge", "t3.medium", "r6i.large"])
    return {
        "requestParameters": {"instanceId": instance, "instanceType": {"value": instance_type}},
        "responseElements": response,
        "requestID": request_id,
        "_target": _arn(call, f"instance/{instance}"),
    }


def permission(
    protocol: str,
    port: int,
    *,
    cidr: str | None = None,
    cidr6: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """One ipPermissions item in the exact shape EC2 logs it (empty sets as ``{}``)."""
    return {
        "ipProtocol": protocol,
        "fromPort": port,
        "toPort": port,
        "groups": {"items": [{"groupId": group}]} if group else {},
        "ipRanges": {"items": [{"cidrIp": cidr}]} if cidr else {},
        "ipv6Ranges": {"items": [{"cidrIpv6": cidr6}]} if cidr6 else {},
        "prefixListIds": {},
    }


def _security_group_rule(
    call: CallContext, group: str, perm: dict[str, Any], egress: bool
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "groupOwnerId": call.account.id,
        "groupId": group,
        "securityGroupRuleId": f"sgr-0{call.hex(16)}",
        "isEgress": egress,
        "ipProtocol": perm["ipProtocol"],
        "fromPort": perm["fromPort"],
        "toPort": perm["toPort"],
    }
    if perm["ipRanges"]:
        rule["cidrIpv4"] = perm["ipRanges"]["items"][0]["cidrIp"]
    elif perm["ipv6Ranges"]:
        rule["cidrIpv6"] = perm["ipv6Ranges"]["items"][0]["cidrIpv6"]
    else:
        rule["referencedGroupInfo"] = {
            "groupId": perm["groups"]["items"][0]["groupId"],
            "userId": call.account.id,
        }
    return rule


def _random_permission(call: CallContext) -> dict[str, Any]:
    port = call.pick([443, 443, 80, 5432, 6379, 8080, 22])
    if call.rng.random() < 0.3:
        return permission("tcp", port, group=call.pick(call.resources.security_groups)[0])
    return permission("tcp", port, cidr=call.pick(["10.0.0.0/16", "10.20.0.0/16", "172.31.0.0/16"]))


def security_group_change(
    call: CallContext, name: str, perm: dict[str, Any], group: str | None = None
) -> dict[str, Any]:
    """Authorize or revoke one rule of a security group (a random one unless ``group``)."""
    group = group or call.pick(call.resources.security_groups)[0]
    request_id = call.uuid()
    response: dict[str, Any] = {"requestId": request_id, "_return": True}
    if name.startswith("Authorize"):
        egress = name.endswith("Egress")
        response["securityGroupRuleSet"] = {
            "items": [_security_group_rule(call, group, perm, egress)]
        }
    return {
        "requestParameters": {"groupId": group, "ipPermissions": {"items": [perm]}},
        "responseElements": response,
        "requestID": request_id,
        "_target": _arn(call, f"security-group/{group}"),
    }


def security_group_rule(name: str) -> Builder:
    """A random rule authorized or revoked by the call ``name``."""

    def build(call: CallContext) -> dict[str, Any]:
        return security_group_change(call, name, _random_permission(call))

    return build


def modify_network_interface(call: CallContext) -> dict[str, Any]:
    request_id, response = _response(call)
    interface = call.pick(call.resources.network_interfaces)
    groups = [call.pick(call.resources.security_groups)[0] for _ in range(call.rng.randrange(1, 3))]
    return {
        "requestParameters": {
            "networkInterfaceId": interface,
            "groupSet": {"items": [{"groupId": g} for g in dict.fromkeys(groups)]},
        },
        "responseElements": response,
        "requestID": request_id,
        "_target": _arn(call, f"network-interface/{interface}"),
    }


def create_security_group(call: CallContext) -> dict[str, Any]:
    request_id = call.uuid()
    group = f"sg-0{call.hex(16)}"
    name = call.pick(["lambda-egress", "tmp-debug", "partner-vpn", "cache"]) + "-" + call.hex(4)
    return {
        "requestParameters": {
            "groupName": name,
            "groupDescription": f"{name} managed by terraform",
            "vpcId": call.resources.vpc,
        },
        "responseElements": {
            "requestId": request_id,
            "_return": True,
            "groupId": group,
            "securityGroupArn": _arn(call, f"security-group/{group}"),
        },
        "requestID": request_id,
    }
