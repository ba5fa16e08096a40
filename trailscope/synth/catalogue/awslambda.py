"""AWS Lambda: invocations (data events) and code deployments."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.clock import iso
from trailscope.synth.ids import ALPHANUMERIC

SOURCE = "lambda.amazonaws.com"


def invoke(call: CallContext) -> dict[str, Any]:
    function = call.pick(call.resources.functions)
    return {
        "requestParameters": {"functionName": function, "invocationType": "RequestResponse"},
        "responseElements": None,
        "additionalEventData": {"functionVersion": f"{function}:$LATEST"},
        "resources": [
            {"accountId": call.account.id, "type": "AWS::Lambda::Function", "ARN": function}
        ],
        "_target": function,
    }


def update_function_code(call: CallContext) -> dict[str, Any]:
    function = call.pick(call.resources.functions)
    name = function.rsplit(":", 1)[1]
    stamp = iso(call.time)[:-1] + ".000+0000"
    request = {
        "functionName": name,
        "s3Bucket": call.resources.buckets[0],
        "s3Key": f"lambda/{name}/{call.hex(40)}.zip",
        "publish": False,
        "dryRun": False,
    }
    return {
        "requestParameters": request,
        "responseElements": {
            "functionName": name,
            "functionArn": function,
            "runtime": call.pick(["python3.12", "nodejs20.x"]),
            "role": call.account.roles["ingest-events-lambda-role"],
            "handler": "app.handler",
            "codeSize": call.rng.randrange(10**4, 10**7),
            "description": "",
            "timeout": 30,
            "memorySize": call.pick([256, 512, 1024]),
            "lastModified": stamp,
            "codeSha256": call.text(ALPHANUMERIC + "+/", 43) + "=",
            "version": "$LATEST",
            "tracingConfig": {"mode": "PassThrough"},
            "revisionId": call.uuid(),
            "state": "Active",
            "lastUpdateStatus": "InProgress",
            "lastUpdateStatusReason": "The function is being created.",
            "lastUpdateStatusReasonCode": "Creating",
            "packageType": "Zip",
            "architectures": ["arm64"],
            "ephemeralStorage": {"size": 512},
            "snapStart": {"applyOn": "None", "optimizationStatus": "Off"},
            "loggingConfig": {"logFormat": "Text", "logGroup": f"/aws/lambda/{name}"},
        },
        "_target": function,
    }
