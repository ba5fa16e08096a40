"""Amazon S3: object data events and bucket management calls, logged as S3 logs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.kind import Builder

SOURCE = "s3.amazonaws.com"

# Object keys as each kind of bucket holds them, by the bucket's purpose.
_OBJECT_KEYS: dict[str, Callable[[CallContext], str]] = {
    "app-uploads": lambda call: (
        f"uploads/{call.hex(2)}/{call.uuid()}.{call.pick(['jpg', 'png', 'pdf'])}"
    ),
    "data-lake": lambda call: (
        f"raw/{call.pick(['orders', 'clicks', 'payments'])}/part-{call.rng.randrange(10**5):05d}"
        f"-{call.uuid()}.snappy.parquet"
    ),
    "static-assets": lambda call: (
        f"assets/{call.pick(['js', 'css', 'img'])}/{call.hex(8)}.{call.pick(['js', 'css', 'svg'])}"
    ),
    "backups": lambda call: f"rds/{call.pick(['orders-db', 'analytics-db'])}/{call.hex(12)}.sql.gz",
    "athena-results": lambda call: f"queries/{call.uuid()}.csv",
    "terraform-state": lambda call: f"env/{call.pick(['prod', 'staging'])}/terraform.tfstate",
}


def bucket_and_key(call: CallContext) -> tuple[str, str]:
    """A bucket of the account/region and a key of the kind that bucket holds."""
    bucket = call.pick(call.resources.buckets)
    purpose = next(p for p in _OBJECT_KEYS if f"-{p}-" in bucket)
    return bucket, _OBJECT_KEYS[purpose](call)


def _object_resources(call: CallContext, bucket: str, key: str) -> list[dict[str, str]]:
    return [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": call.account.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]


def _object_call(
    call: CallContext, bucket: str, key: str, response: dict[str, Any] | None, details: Any
) -> dict[str, Any]:
    return {
        "requestParameters": {"bucketName": bucket, "Host": call.s3_host(bucket), "key": key},
        "responseElements": response,
        "additionalEventData": details,
        "resources": _object_resources(call, bucket, key),
        "_host": call.s3_host(bucket),
        "_target": f"arn:aws:s3:::{bucket}/{key}",
    }


def get_object(call: CallContext) -> dict[str, Any]:
    bucket, key = bucket_and_key(call)
    size = int(call.rng.lognormvariate(10, 2))
    out = _object_call(call, bucket, key, None, call.s3_details(0, size))
    if call.principal.identity_type == "AWSAccount":
        out["sharedEventID"] = call.uuid()
    return out


def put_object(call: CallContext) -> dict[str, Any]:
    bucket, key = bucket_and_key(call)
    size = int(call.rng.lognormvariate(10, 2))
    details = {**call.s3_details(size, 0), "SSEApplied": "Default_SSE_S3"}
    return _object_call(call, bucket, key, {"x-amz-server-side-encryption": "AES256"}, details)


def delete_object(call: CallContext) -> dict[str, Any]:
    bucket, key = bucket_and_key(call)
    return _object_call(call, bucket, key, None, call.s3_details(0, 0))


def _bucket_call(
    call: CallContext, subresource: str, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    bucket = call.pick(call.resources.buckets)
    request: dict[str, Any] = {"bucketName": bucket, "Host": call.s3_host(bucket)}
    if subresource:
        request[subresource] = ""
    if parameters:
        request.update(parameters)
    return {
        "requestParameters": request,
        "responseElements": None,
        "additionalEventData": call.s3_details(0, 0),
        "resources": [
            {
                "accountId": call.account.id,
                "type": "AWS::S3::Bucket",
                "ARN": f"arn:aws:s3:::{bucket}",
            }
        ],
        "_host": call.s3_host(bucket),
        "_target": f"arn:aws:s3:::{bucket}",
    }


def bucket_subresource(subresource: str) -> Builder:
    """Bucket sub-resource calls (GetBucketAcl & co.) carry the sub-resource as an empty
    request parameter, as S3 logs them."""

    def build(call: CallContext) -> dict[str, Any]:
        return _bucket_call(call, subresource)

    return build


def list_buckets(call: CallContext) -> dict[str, Any]:
    return {
        "requestParameters": {"Host": "s3.amazonaws.com"},
        "responseElements": None,
        "additionalEventData": call.s3_details(0, 2048 + call.rng.randrange(6000)),
        "_host": "s3.amazonaws.com",
    }


def put_bucket_policy(call: CallContext) -> dict[str, Any]:
    out = _bucket_call(call, "policy")
    bucket = out["requestParameters"]["bucketName"]
    out["requestParameters"]["bucketPolicy"] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    return out


def create_bucket(call: CallContext) -> dict[str, Any]:
    bucket = f"{call.account.environment}-scratch-{call.hex(8)}"
    host = call.s3_host(bucket)
    return {
        "requestParameters": {
            "CreateBucketConfiguration": {
                "LocationConstraint": call.region,
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            },
            "bucketName": bucket,
            "Host": host,
        },
        "responseElements": None,
        "additionalEventData": call.s3_details(153, 0),
        "resources": [
            {
                "accountId": call.account.id,
                "type": "AWS::S3::Bucket",
                "ARN": f"arn:aws:s3:::{bucket}",
            }
        ],
        "_host": host,
        "_target": f"arn:aws:s3:::{bucket}",
    }


def put_public_access_block(call: CallContext) -> dict[str, Any]:
    return _bucket_call(
        call,
        "publicAccessBlock",
        {
            "PublicAccessBlockConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                "RestrictPublicBuckets": True,
                "BlockPublicPolicy": True,
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
            }
        },
    )
