"""THE events schema: Athena's CloudTrail column names and types, declared once.

Everything that needs to know the shape of an event (the Arrow schema of lake files, the fast
msgspec decoder, the tolerant normalizer, generated DDL) derives from the field tree below, so a
new CloudTrail field is added in exactly one place.

Choices that follow Athena's official CloudTrail table, so pasted Athena queries run unchanged:
lowercase names; ``useridentity``, ``resources``, ``tlsdetails`` (and ``addendum``) as structs;
free-form objects (``requestparameters``, ``responseelements``, ``additionaleventdata``,
``serviceeventdetails``, ...) as compact JSON text; ``eventtime`` as the ISO string; ``readonly``
as the string ``'true'``/``'false'``. Typed helper columns are added, never substituted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cache

import pyarrow as pa


class Kind(Enum):
    """How a JSON value is stored."""

    STR = "str"  # string; booleans/numbers coerced to text
    BOOL = "bool"  # JSON boolean stored as 'true'/'false' text (Athena types it STRING)
    JSON = "json"  # any JSON value kept as compact JSON text (a JSON string stays as-is)
    MAP = "map"  # object of string values -> map<string,string>
    STRUCT = "struct"
    LIST = "list"  # list of STRUCT


@dataclass(frozen=True, eq=False)
class Field:
    """One field as CloudTrail writes it (``json_name``) and as the lake stores it (``name``).

    Fields are compared and hashed by identity: each is a singleton in the schema tree, and
    hashing the whole subtree on every cached lookup would dominate the tolerant decode path.
    """

    json_name: str
    kind: Kind = Kind.STR
    children: tuple[Field, ...] = field(default_factory=tuple)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.json_name.lower())


def _s(name: str) -> Field:
    return Field(name)


def _struct(name: str, *children: Field) -> Field:
    return Field(name, Kind.STRUCT, children)


def _strs(*names: str) -> tuple[Field, ...]:
    return tuple(_s(n) for n in names)


SESSION_ISSUER = _struct(
    "sessionIssuer", *_strs("type", "principalId", "arn", "accountId", "userName")
)
SESSION_CONTEXT = _struct(
    "sessionContext",
    _struct("attributes", *_strs("creationDate", "mfaAuthenticated")),
    SESSION_ISSUER,
    Field("webIdFederationData", Kind.MAP),
    _s("sourceIdentity"),
    _s("ec2RoleDelivery"),
    _s("ec2IssuedInVPC"),
    _s("assumedRoot"),
)
USER_IDENTITY = _struct(
    "userIdentity",
    *_strs("type", "principalId", "arn", "accountId", "accessKeyId", "userName", "invokedBy"),
    SESSION_CONTEXT,
    _s("identityProvider"),
    _s("credentialId"),
    _struct("onBehalfOf", *_strs("userId", "identityStoreArn")),
    _struct("inScopeOf", *_strs("issuerType", "credentialsIssuedTo", "issuerAccountId")),
)

#: Top-level CloudTrail record fields, in Athena's column order where Athena has them.
EVENT_FIELDS: tuple[Field, ...] = (
    _s("eventVersion"),
    USER_IDENTITY,
    _s("eventTime"),
    _s("eventSource"),
    _s("eventName"),
    _s("awsRegion"),
    _s("sourceIPAddress"),
    _s("userAgent"),
    _s("errorCode"),
    _s("errorMessage"),
    Field("requestParameters", Kind.JSON),
    Field("responseElements", Kind.JSON),
    Field("additionalEventData", Kind.JSON),
    _s("requestID"),
    _s("eventID"),
    Field("readOnly", Kind.BOOL),
    Field("resources", Kind.LIST, _strs("ARN", "accountId", "type")),
    _s("eventType"),
    _s("apiVersion"),
    _s("recipientAccountId"),
    Field("serviceEventDetails", Kind.JSON),
    _s("sharedEventID"),
    _s("vpcEndpointId"),
    _s("vpcEndpointAccountId"),
    _s("eventCategory"),
    Field("managementEvent", Kind.BOOL),
    _struct("addendum", *_strs("reason", "updatedFields", "originalRequestID", "originalEventID")),
    _s("sessionCredentialFromConsole"),
    Field("edgeDeviceDetails", Kind.JSON),
    _struct("tlsDetails", *_strs("tlsVersion", "cipherSuite", "clientProvidedHostHeader")),
    Field("insightDetails", Kind.JSON),
    Field("eventContext", Kind.JSON),
)

#: Columns trailscope adds. ``extra`` keeps fields the schema does not know (JSON object text,
#: nested ones under a dotted path) so nothing in the source is dropped.
EXTRA = "extra"
EVENTTIME_TS = "eventtime_ts"
SOURCEKEY = "sourcekey"
#: Hive partition column: the event's own UTC date (not the delivery folder's date).
PARTITION = "event_date"


#: Top-level fields whose values are (nearly) unique per event: a dictionary gains nothing there.
UNIQUE_VALUED = frozenset({"eventid", "requestid", "eventtime"})
#: How a repeating string travels between decode and write (see :data:`BATCH_SCHEMA`).
DICTIONARY_STRING = pa.dictionary(pa.int32(), pa.string())


@cache
def arrow_type(f: Field, *, batch: bool = False) -> pa.DataType:
    """The stored Arrow type of a field; with ``batch``, its type between decode and write,
    where repeating strings are dictionary-encoded."""
    if f.kind in (Kind.STRUCT, Kind.LIST):
        kids = pa.struct([pa.field(c.name, arrow_type(c, batch=batch)) for c in f.children])
        return kids if f.kind is Kind.STRUCT else pa.list_(kids)
    if f.kind is Kind.MAP:
        return pa.map_(pa.string(), pa.string())
    if batch and f.kind in (Kind.STR, Kind.BOOL) and f.name not in UNIQUE_VALUED:
        return DICTIONARY_STRING
    return pa.string()


#: Schema of the rows inside lake Parquet files (the partition column lives in the path).
FILE_SCHEMA = pa.schema(
    [pa.field(f.name, arrow_type(f)) for f in EVENT_FIELDS]
    + [
        pa.field(EXTRA, pa.string()),
        pa.field(EVENTTIME_TS, pa.timestamp("us", tz="UTC")),
        pa.field(SOURCEKEY, pa.string()),
    ]
)

#: Rows between decode and write: FILE_SCHEMA's columns and values, with repeating strings
#: (names, ARNs, accounts, regions, agents...) dictionary-encoded. Sorting a batch then moves
#: 4-byte indices instead of strings, and the Parquet writer takes the dictionaries as they
#: are instead of hashing every value again. Files written from it read back as FILE_SCHEMA.
BATCH_SCHEMA = pa.schema(
    [pa.field(f.name, arrow_type(f, batch=True)) for f in EVENT_FIELDS]
    + [
        pa.field(EXTRA, pa.string()),
        pa.field(EVENTTIME_TS, pa.timestamp("us", tz="UTC")),
        pa.field(SOURCEKEY, DICTIONARY_STRING),
    ]
)


def _dictionary_paths(f: pa.Field, prefix: str = "") -> list[str]:
    """Parquet column paths of a field's dictionary-typed leaves (a list's items are stored
    under ``<name>.list.element``)."""
    name, typ = prefix + f.name, f.type
    if pa.types.is_dictionary(typ):
        return [name]
    if pa.types.is_struct(typ):
        return [p for child in typ for p in _dictionary_paths(child, name + ".")]
    if pa.types.is_list(typ):
        inner = typ.value_field.with_name("element")
        return _dictionary_paths(inner, name + ".list.")
    return []


#: Columns to read straight into dictionaries when lake files are read to be written again
#: (compaction): the rows then arrive as BATCH_SCHEMA, and neither side expands or hashes
#: every string.
DICTIONARY_PATHS = [p for f in BATCH_SCHEMA for p in _dictionary_paths(f)]

#: The table users query: file columns plus the partition column.
TABLE_SCHEMA = FILE_SCHEMA.append(pa.field(PARTITION, pa.string()))

BY_JSON_NAME: dict[str, Field] = {f.json_name: f for f in EVENT_FIELDS}
#: Case-insensitive lookup so lowercase exports (Athena-style NDJSON) are understood too.
BY_LOWER_NAME: dict[str, Field] = {f.json_name.lower(): f for f in EVENT_FIELDS}


def children_by_lower(f: Field) -> dict[str, Field]:
    return {c.json_name.lower(): c for c in f.children}


def column_paths(fields: tuple[Field, ...] = EVENT_FIELDS, prefix: str = "") -> list[str]:
    """Every leaf column as a dotted lowercase path, for 'did you mean' hints and docs."""
    out: list[str] = []
    for f in fields:
        path = f"{prefix}{f.name}"
        out.append(path)
        if f.kind is Kind.STRUCT:
            out.extend(column_paths(f.children, path + "."))
    return out
