"""The catalogue of API calls a synthetic trail is made of, one module per AWS service.

:func:`generic_mix` is the table of the everyday mix: roughly 60 call shapes with a Zipf-like
volume skew (reads dwarf writes), each with who makes it, how often it fails and how its variants
are pooled. The table's order is part of the output: events are drawn from it by cumulative
weight, so reordering it changes every trail.
"""

from __future__ import annotations

from trailscope.synth.catalogue import (
    awslambda,
    cloudtrail,
    common,
    ec2,
    iam,
    kms,
    logs,
    s3,
    secretsmanager,
    ssm,
    sso,
    sts,
)
from trailscope.synth.catalogue.errors import DENY
from trailscope.synth.catalogue.kind import (
    CREDENTIALS,
    FRESH_EC2,
    HOT,
    LOG_STREAM,
    S3_FRESH,
    S3_HOT,
    S3_POOLED,
    SERVICE_EVENT,
    STUCK,
    UNPOOLED,
    Callers,
    Kind,
    Scope,
)

__all__ = ["Kind", "generic_mix"]

DYNAMODB = "dynamodb.amazonaws.com"
ECR = "ecr.amazonaws.com"
CLOUDWATCH = "monitoring.amazonaws.com"
ELB = "elasticloadbalancing.amazonaws.com"
AUTOSCALING = "autoscaling.amazonaws.com"
RDS = "rds.amazonaws.com"
EKS = "eks.amazonaws.com"
CLOUDFORMATION = "cloudformation.amazonaws.com"
ORGANIZATIONS = "organizations.amazonaws.com"

# Who makes a call: pools of principals with their shares.
WORKLOADS: Callers = (("workload", 1.0),)
READERS: Callers = (
    ("workload", 0.55),
    ("cli", 0.15),
    ("console", 0.12),
    ("config", 0.08),
    ("pipeline", 0.06),
    ("federated", 0.04),
)
WRITERS: Callers = (("pipeline", 0.5), ("console", 0.3), ("cli", 0.2))
ROLE_ASSUMERS: Callers = (
    ("service", 0.55),
    ("workload", 0.3),
    ("pipeline", 0.1),
    ("cross_account", 0.05),
)
OBJECT_READERS: Callers = (
    ("workload", 0.85),
    ("bot", 0.05),
    ("cross_account", 0.05),
    ("cli", 0.05),
)
OBJECT_WRITERS: Callers = (("workload", 0.85), ("bot", 0.15))
KEY_USERS: Callers = (("workload", 0.7), ("service", 0.3))
AUDITORS: Callers = (("config", 0.7), ("console", 0.2), ("pipeline", 0.1))
CALLER_CHECKS: Callers = (("pipeline", 0.4), ("cli", 0.3), ("workload", 0.3))
PEOPLE: Callers = (("console", 0.7), ("cli", 0.3))
DEPLOYERS: Callers = (("workload", 0.6), ("pipeline", 0.4))
STACK_READERS: Callers = (("pipeline", 0.6), ("console", 0.4))
INVOKERS: Callers = (("invoker", 0.8), ("workload", 0.2))
PARAMETER_READERS: Callers = (("workload", 0.8), ("pipeline", 0.2))
PORTAL_USERS: Callers = (("identity_center", 1.0),)
SAML_USERS: Callers = (("saml", 1.0),)
WEB_IDENTITIES: Callers = (("web_identity", 1.0),)
BROKER: Callers = (("broker", 1.0),)
KEY_ROTATION: Callers = (("key_rotation", 1.0),)
HAMMER: Callers = (("hammer", 1.0),)

READ, WRITE = True, False
GLOBAL, MANAGEMENT = Scope.GLOBAL, Scope.MANAGEMENT


def generic_mix() -> list[Kind]:
    """The everyday calls, busiest first.

    Columns: service, eventName, relative volume, builder, who calls it, readOnly, then options.
    """
    ec2_state = ec2.instance_state_change
    # fmt: off
    return [
        Kind(sts.SOURCE, "AssumeRole", 14, sts.assume_role, ROLE_ASSUMERS, READ,
             error_rate=0.01, pooling=HOT, slot=CREDENTIALS),
        Kind(s3.SOURCE, "GetObject", 12, s3.get_object, OBJECT_READERS, READ,
             error_rate=0.06, data=True, pooling=S3_HOT),
        Kind(kms.SOURCE, "Decrypt", 10, kms.decrypt, KEY_USERS, READ,
             error_rate=0.02, pooling=HOT),
        Kind(ec2.SOURCE, "DescribeInstances", 7, ec2.describe_instances, READERS, READ,
             pooling=HOT),
        Kind(s3.SOURCE, "PutObject", 6, s3.put_object, OBJECT_WRITERS, WRITE,
             error_rate=0.02, data=True, pooling=S3_HOT),
        Kind(sts.SOURCE, "GetCallerIdentity", 5, common.no_parameters, CALLER_CHECKS, READ,
             error_rate=0.005, pooling=HOT),
        Kind(awslambda.SOURCE, "Invoke", 6, awslambda.invoke, INVOKERS, WRITE,
             data=True, pooling=HOT),
        Kind(kms.SOURCE, "GenerateDataKey", 5, kms.generate_data_key, KEY_USERS, READ,
             error_rate=0.02, pooling=HOT),
        Kind(s3.SOURCE, "ListBuckets", 3, s3.list_buckets, READERS, READ, pooling=S3_POOLED),
        Kind(ec2.SOURCE, "DescribeSecurityGroups", 3, ec2.describe_security_groups, READERS,
             READ),
        Kind(s3.SOURCE, "GetBucketAcl", 2.5, s3.bucket_subresource("acl"), AUDITORS, READ,
             pooling=S3_POOLED),
        Kind(logs.SOURCE, "CreateLogStream", 2.5, logs.create_log_stream, WORKLOADS, WRITE,
             slot=LOG_STREAM),
        Kind(secretsmanager.SOURCE, "GetSecretValue", 2.5, secretsmanager.get_secret_value,
             WORKLOADS, READ, error_rate=0.02),
        Kind(ssm.SOURCE, "GetParameter", 2.5, ssm.get_parameter, PARAMETER_READERS, READ),
        Kind(iam.SOURCE, "ListRoles", 1.5, common.no_parameters, AUDITORS, READ, scope=GLOBAL),
        Kind(ECR, "GetAuthorizationToken", 1.5, common.no_parameters, DEPLOYERS, READ,
             error_rate=0.01),
        Kind(DYNAMODB, "DescribeTable", 1.5,
             common.one_resource("tableName", lambda r: r.tables), WORKLOADS, READ),
        Kind(ec2.SOURCE, "DescribeVolumes", 1,
             common.fixed({"volumeSet": {}, "filterSet": {}}), READERS, READ),
        Kind(ec2.SOURCE, "DescribeSubnets", 1, ec2.describe_subnets, READERS, READ),
        Kind(ec2.SOURCE, "DescribeNetworkInterfaces", 0.8,
             common.fixed(ec2.NETWORK_INTERFACE_FILTER), READERS, READ),
        Kind(CLOUDWATCH, "DescribeAlarms", 1, common.fixed({"maxRecords": 100}), READERS, READ),
        Kind(ELB, "DescribeTargetHealth", 1.2,
             common.one_resource("targetGroupArn", lambda r: r.target_groups), WORKLOADS, READ),
        Kind(iam.SOURCE, "GetRole", 1, iam.role_name_only, AUDITORS, READ, scope=GLOBAL),
        Kind(iam.SOURCE, "ListAttachedRolePolicies", 0.6, iam.role_name_only, AUDITORS, READ,
             scope=GLOBAL),
        Kind(s3.SOURCE, "GetBucketPolicy", 0.8, s3.bucket_subresource("policy"), AUDITORS, READ,
             pooling=S3_POOLED),
        Kind(s3.SOURCE, "GetBucketEncryption", 0.6, s3.bucket_subresource("encryption"),
             AUDITORS, READ, pooling=S3_POOLED),
        Kind(sso.SOURCE, "ListAccounts", 0.5, sso.portal_call("ListAccounts"), PORTAL_USERS,
             READ, error_rate=0, scope=MANAGEMENT),
        Kind(sso.SOURCE, "ListAccountRoles", 0.4, sso.portal_call("ListAccountRoles"),
             PORTAL_USERS, READ, scope=MANAGEMENT),
        Kind(sso.SOURCE, "GetRoleCredentials", 0.5, sso.portal_call("GetRoleCredentials"),
             PORTAL_USERS, READ, scope=MANAGEMENT),
        Kind(sts.SOURCE, "AssumeRoleWithSAML", 0.4, sts.assume_role_with_saml, SAML_USERS, READ,
             scope=MANAGEMENT, slot=CREDENTIALS),
        Kind(sts.SOURCE, "AssumeRoleWithWebIdentity", 0.8, sts.assume_role_with_web_identity,
             WEB_IDENTITIES, READ, error_rate=0.01, slot=CREDENTIALS),
        Kind(sts.SOURCE, "GetFederationToken", 0.15, sts.get_federation_token, BROKER, READ,
             scope=MANAGEMENT, slot=CREDENTIALS),
        Kind(AUTOSCALING, "DescribeAutoScalingGroups", 0.8,
             common.one_resource("autoScalingGroupNames", lambda r: r.autoscaling_groups,
                                 as_list=True), READERS, READ),
        Kind(RDS, "DescribeDBInstances", 0.6,
             common.one_resource("dBInstanceIdentifier", lambda r: r.databases), READERS, READ),
        Kind(cloudtrail.SOURCE, "DescribeTrails", 0.3,
             common.fixed({"includeShadowTrails": True}), AUDITORS, READ),
        Kind(cloudtrail.SOURCE, "LookupEvents", 0.3, cloudtrail.lookup_events, PEOPLE, READ),
        Kind(EKS, "DescribeCluster", 0.6, common.fixed({"name": "main"}), DEPLOYERS, READ),
        Kind(CLOUDFORMATION, "DescribeStacks", 0.8,
             common.one_resource("stackName", lambda r: r.stacks), STACK_READERS, READ),
        Kind(ORGANIZATIONS, "DescribeOrganization", 0.3, common.no_parameters, AUDITORS, READ,
             scope=MANAGEMENT),
        Kind(kms.SOURCE, "RotateKey", 0.05, kms.rotate_key, KEY_ROTATION, WRITE,
             error_rate=0, pooling=SERVICE_EVENT, event_type="AwsServiceEvent"),
        Kind(s3.SOURCE, "DeleteObject", 0.5, s3.delete_object, OBJECT_WRITERS, WRITE,
             error_rate=0.02, data=True, pooling=S3_POOLED),
        Kind(ec2.SOURCE, "CreateTags", 0.4, ec2.create_tags, WRITERS, WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "RunInstances", 0.15, ec2.run_instances, WRITERS, WRITE,
             pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "TerminateInstances", 0.1,
             ec2_state("TerminateInstances", 32, "shutting-down", (16, "running")), WRITERS,
             WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "StopInstances", 0.08,
             ec2_state("StopInstances", 64, "stopping", (16, "running")), WRITERS, WRITE,
             pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "StartInstances", 0.08,
             ec2_state("StartInstances", 0, "pending", (80, "stopped")), WRITERS, WRITE,
             pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "ModifyInstanceAttribute", 0.05, ec2.modify_instance_type, WRITERS,
             WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, ec2.AUTHORIZE_INGRESS, 0.08,
             ec2.security_group_rule(ec2.AUTHORIZE_INGRESS), WRITERS, WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, ec2.AUTHORIZE_EGRESS, 0.04,
             ec2.security_group_rule(ec2.AUTHORIZE_EGRESS), WRITERS, WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, ec2.REVOKE_INGRESS, 0.05,
             ec2.security_group_rule(ec2.REVOKE_INGRESS), WRITERS, WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "ModifyNetworkInterfaceAttribute", 0.04, ec2.modify_network_interface,
             WRITERS, WRITE, pooling=FRESH_EC2),
        Kind(ec2.SOURCE, "CreateSecurityGroup", 0.03, ec2.create_security_group, WRITERS, WRITE,
             pooling=FRESH_EC2),
        Kind(iam.SOURCE, "CreateUser", 0.02, iam.create_user, WRITERS, WRITE,
             scope=GLOBAL, pooling=UNPOOLED),
        Kind(iam.SOURCE, "AttachRolePolicy", 0.04, iam.attach_role_policy, WRITERS, WRITE,
             scope=GLOBAL, pooling=UNPOOLED),
        Kind(iam.SOURCE, "PutRolePolicy", 0.03, iam.put_role_policy, WRITERS, WRITE,
             scope=GLOBAL, pooling=UNPOOLED),
        Kind(iam.SOURCE, "CreateRole", 0.03, iam.create_role, WRITERS, WRITE,
             scope=GLOBAL, pooling=UNPOOLED),
        Kind(iam.SOURCE, "CreateAccessKey", 0.02, iam.create_access_key, WRITERS, WRITE,
             scope=GLOBAL, pooling=UNPOOLED),
        Kind(s3.SOURCE, "PutBucketPolicy", 0.02, s3.put_bucket_policy, WRITERS, WRITE,
             pooling=S3_FRESH),
        Kind(s3.SOURCE, "CreateBucket", 0.02, s3.create_bucket, WRITERS, WRITE,
             pooling=S3_FRESH),
        Kind(s3.SOURCE, "PutBucketPublicAccessBlock", 0.02, s3.put_public_access_block, WRITERS,
             WRITE, pooling=S3_FRESH),
        Kind(awslambda.SOURCE, "UpdateFunctionCode20150331v2", 0.08,
             awslambda.update_function_code, WRITERS, WRITE, pooling=UNPOOLED),
        # The misconfigured reporting box: same call, same denial, all day long.
        Kind(secretsmanager.SOURCE, "GetSecretValue", 3, secretsmanager.get_secret_value, HAMMER,
             READ, error_rate=1.0, scope=Scope.HAMMER, pooling=STUCK, errors=(DENY,)),
    ]
    # fmt: on
