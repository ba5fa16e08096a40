"""AWS KMS: decryption and data keys on behalf of other services, and key rotation."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.s3 import bucket_and_key

SOURCE = "kms.amazonaws.com"


def _encryption_context(call: CallContext) -> dict[str, str]:
    """Whose data the key protects: a function's environment, an S3 object or a secret."""
    if call.principal.identity_type == "AWSService" or call.rng.random() < 0.4:
        return {"aws:lambda:FunctionArn": call.pick(call.resources.functions)}
    if call.rng.random() < 0.5:
        bucket, key = bucket_and_key(call)
        return {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}
    return {"SecretARN": call.pick(call.resources.secrets), "SecretVersionId": call.uuid()}


def _key_resource(call: CallContext, key: str) -> list[dict[str, str]]:
    return [{"accountId": call.account.id, "type": "AWS::KMS::Key", "ARN": key}]


def decrypt(call: CallContext) -> dict[str, Any]:
    key = call.pick(call.resources.kms_keys)
    return {
        "requestParameters": {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": _encryption_context(call),
        },
        "responseElements": None,
        "resources": _key_resource(call, key),
        "_target": key,
    }


def generate_data_key(call: CallContext) -> dict[str, Any]:
    key = call.pick(call.resources.kms_keys)
    return {
        "requestParameters": {
            "keyId": key,
            "encryptionContext": _encryption_context(call),
            "keySpec": "AES_256",
        },
        "responseElements": None,
        "resources": _key_resource(call, key),
        "_target": key,
    }


def rotate_key(call: CallContext) -> dict[str, Any]:
    key = call.pick(call.resources.kms_keys)
    return {
        "requestParameters": None,
        "responseElements": None,
        "additionalEventData": {"keyId": key.rsplit("/", 1)[1]},
        "resources": _key_resource(call, key),
    }
