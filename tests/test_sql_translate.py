"""Each Athena -> DuckDB translation rule: the SQL it writes, and Athena's answer on a tiny lake.

The tiny lake holds six hand-written events chosen for the rules: JSON text with nested objects,
dashed keys and a non-JSON string, numbers that are floats, an accountid 'anonymous', source
addresses that are public, RFC 1918, IPv6, a service name and a comma list, and resources arrays.
Expected values are written out by hand from Trino's documented behaviour, never computed by
trailscope.
"""

from __future__ import annotations

import gzip
import json

import pytest

from trailscope import Lake
from trailscope.engines.duckdb import DuckDBEngine
from trailscope.sql import QueryError, translate

ALICE = "arn:aws:iam::111122223333:user/alice"


def _event(n: int, time: str, source: str, name: str, ip: str, **fields: object) -> dict:
    event: dict = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "arn": ALICE},
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"req-{n}",
        "eventID": f"00000000-0000-0000-0000-00000000000{n}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": "111122223333",
        "eventCategory": "Data",
    }
    event.update(fields)
    return event


EVENTS = [
    _event(
        1,
        "2024-07-16T10:15:00Z",
        "s3.amazonaws.com",
        "GetObject",
        "203.0.113.9",
        requestParameters={"bucketName": "pii-bucket", "key": "a/b.csv", "Host": "h"},
        additionalEventData={"bytesTransferredIn": 0.0, "bytesTransferredOut": 28.0},
        resources=[
            {
                "ARN": "arn:aws:s3:::pii-bucket/a/b.csv",
                "accountId": "111",
                "type": "AWS::S3::Object",
            },
            {"ARN": "arn:aws:s3:::pii-bucket", "accountId": "111", "type": "AWS::S3::Bucket"},
        ],
    ),
    _event(
        2,
        "2024-07-16T10:45:00Z",
        "s3.amazonaws.com",
        "GetObject",
        "10.1.2.3",
        userIdentity={"type": "AWSAccount", "accountId": "anonymous", "principalId": ""},
        requestParameters={"bucketName": "pii-bucket", "key": "c.json"},
        additionalEventData={"bytesTransferredOut": 100},
    ),
    _event(
        3,
        "2024-07-17T08:00:00Z",
        "s3.amazonaws.com",
        "CopyObject",
        "172.16.5.4",
        requestParameters={
            "bucketName": "stage",
            "key": "k",
            "x-amz-copy-source": "pii-bucket/a/b.csv",
        },
    ),
    _event(
        4,
        "2024-07-17T09:00:00Z",
        "iam.amazonaws.com",
        "CreateAccessKey",
        "2001:db8::1",
        requestParameters={"userName": "bob"},
        responseElements={
            "accessKey": {"userName": "bob", "accessKeyId": "AKIAEXAMPLE", "status": "Active"}
        },
    ),
    _event(
        5,
        "2024-07-17T12:00:00Z",
        "rds.amazonaws.com",
        "RestoreDBInstanceFromDBSnapshot",
        "rds.amazonaws.com",
        responseElements={"publiclyAccessible": "true", "dBInstanceIdentifier": "db1"},
    ),
    _event(
        6,
        "2024-07-17T23:59:59Z",
        "s3.amazonaws.com",
        "DeleteBucket",
        "192.168.1.1, 198.51.100.7",
        requestParameters="just text",  # a JSON string: kept as its text, which is not JSON
        errorCode="AccessDenied",
        resources=[{"ARN": "arn:aws:s3:::old-bucket", "accountId": "444", "type": None}],
    ),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("tiny")
    trail = root / "trail"
    trail.mkdir()
    with gzip.open(trail / "events.json.gz", "wt") as fh:
        json.dump({"Records": EVENTS}, fh, separators=(",", ":"))  # compact, as CloudTrail
    lk = Lake(root / "lake")
    summary = lk.ingest(str(trail), workers=1)
    assert summary.events_added == len(EVENTS)
    return lk


def duck(sql: str) -> str:
    return translate(sql).sql


def rows(lake: Lake, sql: str) -> list[dict]:
    return lake.query(sql).to_pylist()


def col(lake: Lake, sql: str) -> list:
    table = lake.query(sql)
    return table.column(0).to_pylist()


@pytest.fixture(scope="module")
def engine():
    """An engine over an empty lake: the macros and settings, for expressions on literals."""
    eng = DuckDBEngine([])
    yield eng
    eng.close()


def value(engine: DuckDBEngine, expression: str):
    return engine.query(translate(f"SELECT {expression} AS v").sql).column(0).to_pylist()[0]


# --------------------------------------------------------------------------- JSON


def test_json_extract_scalar_gives_null_for_objects_missing_paths_and_non_json(lake) -> None:
    assert duck("SELECT json_extract_scalar(requestparameters, '$.bucketName') FROM t") == (
        "SELECT ATHENA_JSON_EXTRACT_SCALAR(requestparameters, '$.bucketName') FROM cloudtrail AS t"
    )
    got = rows(
        lake,
        """SELECT eventid, json_extract_scalar(requestparameters, '$.bucketName') AS bucket,
                  json_extract_scalar(responseelements, '$.accessKey') AS obj,
                  json_extract_scalar(additionaleventdata, '$.bytesTransferredOut') AS n
           FROM cloudtrail ORDER BY eventid""",
    )
    assert [r["bucket"] for r in got] == ["pii-bucket", "pii-bucket", "stage", None, None, None]
    assert all(r["obj"] is None for r in got)  # an object is not a scalar
    assert [r["n"] for r in got][:2] == ["28.0", "100"]


@pytest.mark.parametrize(
    ("document", "path", "expected"),
    [
        ('{"a": "x\\"y"}', "$.a", 'x"y'),  # an escaped quote, unescaped as Trino does
        ('{"a": "{not an object}"}', "$.a", "{not an object}"),  # a string, even if it looks
        ('{"a": ["x"]}', "$.a", None),  # arrays are not scalars
        ('{"a": {"b": 1}}', "$.a.b", "1"),
        ('{"a": 12.5}', "$.a", "12.5"),
        ('{"a": true}', "$.a", "true"),
        ('{"a": null}', "$.a", None),
        ('["p", "q"]', "$[1]", "q"),
        ("not json at all", "$.a", None),
        ('"just a string"', "$", "just a string"),
    ],
)
def test_json_extract_scalar_on_every_kind_of_value(
    engine: DuckDBEngine, document: str, path: str, expected: str | None
) -> None:
    literal = document.replace("'", "''")
    assert value(engine, f"json_extract_scalar('{literal}', '{path}')") == expected


def test_json_paths_with_dashes_and_brackets(lake) -> None:
    assert duck("SELECT json_extract_scalar(x, '$[\"a-b\"][0]') FROM t").startswith(
        "SELECT ATHENA_JSON_EXTRACT_SCALAR(x, '$.\"a-b\"[0]')"
    )
    sql = """SELECT json_extract_scalar(requestParameters, '$.x-amz-copy-source') AS a,
                    json_extract_scalar(requestParameters, '$["x-amz-copy-source"]') AS b
             FROM cloudtrail WHERE eventname = 'CopyObject'"""
    assert rows(lake, sql) == [{"a": "pii-bucket/a/b.csv", "b": "pii-bucket/a/b.csv"}]


def test_json_extract_returns_json_and_nests(lake) -> None:
    sql = """SELECT json_extract_scalar(json_extract(responseelements, '$.accessKey'),
                                        '$.userName'),
                    json_extract(responseelements, '$.accessKey.status')
             FROM cloudtrail WHERE eventname = 'CreateAccessKey'"""
    assert "ATHENA_JSON_EXTRACT(responseelements, '$.accessKey')" in duck(sql)
    (row,) = lake.query(sql).to_pylist()
    assert list(row.values()) == ["bob", '"Active"']  # json_extract keeps JSON (quoted) text
    # text that is not JSON gives NULL, as in Trino (DuckDB's own json_extract would fail)
    assert col(
        lake,
        "SELECT json_extract(requestparameters, '$.a') FROM cloudtrail "
        "WHERE eventname = 'DeleteBucket'",
    ) == [None]


def test_cast_json_to_varchar_is_the_value_without_quotes(engine) -> None:
    assert value(engine, "CAST(json_extract('{\"s\": \"x\"}', '$.s') AS varchar)") == "x"
    assert value(engine, "CAST(json_parse('12') AS varchar)") == "12"
    assert value(engine, "CAST(json_extract('{\"s\": null}', '$.s') AS varchar)") is None


def test_dot_access_on_json_text_reads_the_field(lake) -> None:
    sql = """SELECT requestParameters.bucketName, requestParameters.key AS object_key,
                    SUM(CAST(additionalEventData.bytesTransferredOut AS BIGINT)) AS bytes_out
             FROM cloudtrail_logs
             WHERE requestParameters.bucketName = 'pii-bucket'
             GROUP BY requestParameters.bucketName, requestParameters.key ORDER BY 2"""
    translation = translate(sql)
    assert "ATHENA_JSON_FIELD(requestParameters, '$.bucketName') AS bucketName" in translation.sql
    assert any(
        "json_extract_scalar(requestparameters, '$.bucketName')" in n for n in translation.notices
    )
    table = lake.query(sql)
    assert table.column_names == ["bucketName", "object_key", "bytes_out"]
    assert table.to_pylist() == [
        {"bucketName": "pii-bucket", "object_key": "a/b.csv", "bytes_out": 28},
        {"bucketName": "pii-bucket", "object_key": "c.json", "bytes_out": 100},
    ]


def test_dot_access_qualified_nested_and_objects(lake) -> None:
    sql = """SELECT ct.requestParameters.key, ct.responseElements.accessKey.userName AS u,
                    ct.responseElements.accessKey AS obj
             FROM cloudtrail_logs ct WHERE ct.eventName = 'CreateAccessKey'
                OR ct.requestParameters.key IN ('a/b.csv')"""
    assert "ATHENA_JSON_FIELD(ct.responseElements, '$.accessKey.userName')" in duck(sql)
    got = sorted(rows(lake, sql), key=lambda r: r["key"] is None)
    assert got[0] == {"key": "a/b.csv", "u": None, "obj": None}
    assert got[1]["key"] is None and got[1]["u"] == "bob"
    assert json.loads(got[1]["obj"])["accessKeyId"] == "AKIAEXAMPLE"  # an object: its JSON text


def test_dot_access_leaves_structs_and_table_qualifiers_alone() -> None:
    assert duck("SELECT useridentity.sessioncontext.sessionissuer.arn FROM t").startswith(
        "SELECT useridentity.sessioncontext.sessionissuer.arn FROM (SELECT"
    )
    assert duck("SELECT t.requestparameters FROM cloudtrail t") == (
        "SELECT t.requestparameters FROM cloudtrail AS t"
    )
    # a table aliased like a JSON column: the name qualifies a column, it is not dot access
    assert duck("SELECT requestparameters.eventname FROM cloudtrail requestparameters") == (
        "SELECT requestparameters.eventname FROM cloudtrail AS requestparameters"
    )


# --------------------------------------------------------------------------- casts


def test_numeric_cast_of_a_column_is_try_cast_with_a_notice(lake) -> None:
    translation = translate("SELECT CAST(useridentity.accountid AS bigint) AS id FROM cloudtrail")
    assert translation.sql.startswith(
        "SELECT TRY_CAST(useridentity.accountid AS BIGINT) AS id FROM "
    )
    assert any("TRY_CAST" in n for n in translation.notices)
    ids = col(
        lake,
        "SELECT CAST(useridentity.accountid AS bigint) FROM cloudtrail "
        "WHERE eventname = 'GetObject' ORDER BY eventtime",
    )
    assert ids == [111122223333, None]  # 'anonymous' is not a number
    # literals and aggregates keep a plain CAST
    assert duck("SELECT CAST('7' AS bigint), CAST(count(*) AS double) FROM t") == (
        "SELECT CAST('7' AS BIGINT), CAST(COUNT(*) AS DOUBLE) FROM cloudtrail AS t"
    )


# --------------------------------------------------------------------------- IPADDRESS

PUBLIC_ONLY = """
SELECT sourceipaddress FROM cloudtrail
WHERE regexp_like(sourceipaddress, '^\\d')
AND NOT ((CAST(sourceipaddress AS IPADDRESS) > IPADDRESS '10.0.0.0'
AND CAST(sourceipaddress AS IPADDRESS) < IPADDRESS '10.255.255.255')
OR (CAST(sourceipaddress AS IPADDRESS) > IPADDRESS '172.16.0.0'
AND CAST(sourceipaddress AS IPADDRESS) < IPADDRESS '172.31.255.255')
OR (CAST(sourceipaddress AS IPADDRESS) > IPADDRESS '192.168.0.0'
AND CAST(sourceipaddress AS IPADDRESS) < IPADDRESS '192.168.255.255'))
ORDER BY 1
"""


def test_ipaddress_comparisons_find_public_addresses(lake) -> None:
    sql = duck(PUBLIC_ONLY)
    assert "ATHENA_IP_KEY(sourceipaddress) > ATHENA_IP_KEY('10.0.0.0')" in sql
    # the comma list is no address (Athena would stop the query there; here it is NULL)
    assert col(lake, PUBLIC_ONLY) == ["2001:db8::1", "203.0.113.9"]


def test_contains_cidr_is_the_rfc1918_check(lake) -> None:
    sql = """SELECT sourceipaddress FROM cloudtrail
             WHERE contains('10.0.0.0/8', CAST(sourceipaddress AS IPADDRESS))
                OR contains('172.16.0.0/12', CAST(sourceipaddress AS IPADDRESS))
                OR contains('192.168.0.0/16', CAST(sourceipaddress AS IPADDRESS))
             ORDER BY 1"""
    assert "ATHENA_IP_IN_CIDR('10.0.0.0/8', sourceipaddress)" in duck(sql)
    assert col(lake, sql) == ["10.1.2.3", "172.16.5.4"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("CAST('::ffff:10.1.2.3' AS IPADDRESS) = IPADDRESS '10.1.2.3'", True),
        ("IPADDRESS '2001:db8::1' > IPADDRESS '255.255.255.255'", True),
        ("IPADDRESS '10.0.0.2' > IPADDRESS '10.0.0.10'", False),  # numeric, not text, order
        ("IPADDRESS '2001:db8::' = IPADDRESS '2001:0db8:0:0:0:0:0:0'", True),
        ("CAST('01.2.3.4' AS IPADDRESS)", None),  # leading zeros are refused, as in Trino
        ("CAST('1.2.3.256' AS IPADDRESS)", None),
        ("CAST('1::2::3' AS IPADDRESS)", None),
        ("CAST('1:2:3:4:5:6:7:8::' AS IPADDRESS)", None),
        ("CAST('10.0.0.1' AS IPADDRESS)", "10.0.0.1"),
        ("contains('172.16.0.0/12', IPADDRESS '172.31.255.255')", True),
        ("contains('172.16.0.0/12', IPADDRESS '172.32.0.0')", False),
        ("contains('2001:db8::/32', IPADDRESS '2001:db8:ffff::1')", True),
        ("contains('2001:db8::/32', IPADDRESS '2001:db9::1')", False),
        ("contains('0.0.0.0/0', IPADDRESS '2001:db8::1')", False),
        ("contains('::/0', IPADDRESS '10.0.0.1')", True),
        ("contains('10.0.0.0/33', IPADDRESS '10.0.0.1')", None),
    ],
)
def test_ipaddress_semantics(engine, expression: str, expected: object) -> None:
    assert value(engine, expression) == expected


# --------------------------------------------------------------------------- UNNEST


def test_unnest_with_one_name_gives_the_row(lake) -> None:
    sql = """SELECT eventid, replace(unnested.resources_entry.ARN, 'arn:aws:s3:::') AS res,
                    unnested.resources_entry.accountid AS acct
             FROM cloudtrail_logs t
             CROSS JOIN UNNEST(t.resources) unnested (resources_entry)
             ORDER BY 1, 2"""
    assert rows(lake, sql) == [
        {"eventid": EVENTS[0]["eventID"], "res": "pii-bucket", "acct": "111"},
        {"eventid": EVENTS[0]["eventID"], "res": "pii-bucket/a/b.csv", "acct": "111"},
        {"eventid": EVENTS[5]["eventID"], "res": "old-bucket", "acct": "444"},
    ]


def test_unnest_with_several_names_expands_the_row_fields(lake) -> None:
    sql = """SELECT eventname, arn, accountid, type FROM cloudtrail
             CROSS JOIN UNNEST(resources) AS r (arn, accountid, type) ORDER BY arn"""
    assert "CROSS JOIN LATERAL (SELECT UNNEST(_ts_row)" in duck(sql)
    assert rows(lake, sql) == [
        {
            "eventname": "DeleteBucket",
            "arn": "arn:aws:s3:::old-bucket",
            "accountid": "444",
            "type": None,
        },
        {
            "eventname": "GetObject",
            "arn": "arn:aws:s3:::pii-bucket",
            "accountid": "111",
            "type": "AWS::S3::Bucket",
        },
        {
            "eventname": "GetObject",
            "arn": "arn:aws:s3:::pii-bucket/a/b.csv",
            "accountid": "111",
            "type": "AWS::S3::Object",
        },
    ]


def test_unnest_with_ordinality_and_several_arrays(engine, lake) -> None:
    sql = """SELECT arn, n FROM cloudtrail
             CROSS JOIN UNNEST(resources) WITH ORDINALITY AS r (arn, accountid, type, n)
             WHERE eventname = 'GetObject' ORDER BY n"""
    assert rows(lake, sql) == [
        {"arn": "arn:aws:s3:::pii-bucket/a/b.csv", "n": 1},
        {"arn": "arn:aws:s3:::pii-bucket", "n": 2},
    ]
    zipped = """SELECT x, y FROM (SELECT ARRAY[1, 2, 3] AS a, ARRAY['a', 'b'] AS b) t
                CROSS JOIN UNNEST(a, b) AS u (x, y) ORDER BY x"""
    assert engine.query(duck(zipped)).to_pylist() == [
        {"x": 1, "y": "a"},
        {"x": 2, "y": "b"},
        {"x": 3, "y": None},  # the shorter array is padded with NULL, as in Trino
    ]


# --------------------------------------------------------------------------- regexps, LIKE


def test_regexp_extract_is_null_without_a_match(lake) -> None:
    sql = """SELECT eventname FROM DATABASE.TABLE WHERE (eventSource = 'rds.amazonaws.com'
             AND regexp_extract(responseElements, '"publiclyAccessible":"([^"]+)"', 1) LIKE 'true'
             AND eventName = 'RestoreDBInstanceFromDBSnapshot')"""
    assert col(lake, sql) == ["RestoreDBInstanceFromDBSnapshot"]
    got = col(lake, "SELECT regexp_extract(eventname, 'Nothing(x)', 1) FROM cloudtrail LIMIT 1")
    assert got == [None]  # DuckDB alone gives ''


def test_regexp_replace_uses_trino_replacement_syntax(engine) -> None:
    assert "'\\1X', 'g'" in duck("SELECT regexp_replace(x, '(a)b', '$1X') FROM t")
    assert value(engine, "regexp_replace('abab', '(a)b', '$1X')") == "aXaX"  # every match
    assert value(engine, "regexp_replace('a$b', '\\$', '\\$\\$')") == "a$$b"
    assert value(engine, "regexp_replace('abc', 'b')") == "ac"


def test_split_part_past_the_end_is_null_and_count_if_is_bigint(engine, lake) -> None:
    assert value(engine, "split_part('a/b', '/', 2)") == "b"
    assert value(engine, "split_part('a//b', '/', 2)") == ""
    assert value(engine, "split_part('a/b', '/', 3)") is None  # DuckDB alone gives ''
    table = lake.query("SELECT count_if(errorcode IS NOT NULL) AS n FROM cloudtrail")
    assert str(table.schema.field("n").type) == "int64"
    assert table.column("n").to_pylist() == [1]


def test_like_with_escape(lake) -> None:
    sql = """SELECT count(*) FROM cloudtrail
             WHERE eventName LIKE 'Get%' ESCAPE '\\' AND errorcode IS NULL
               AND useragent LIKE 'aws\\-cli/%' ESCAPE '\\'"""
    assert col(lake, sql) == [2]
    assert col(
        lake, "SELECT count(*) FROM cloudtrail WHERE eventname LIKE 'Get\\%' ESCAPE '\\'"
    ) == [0]


# --------------------------------------------------------------------------- dates and times


def test_eventtime_compares_as_text(lake) -> None:
    sql = """SELECT count(*) FROM cloudtrail
             WHERE eventtime BETWEEN '2024-07-16T10:00:00Z' AND '2024-07-16T10:59:59Z'"""
    assert "event_date >= '2024-07-16' AND event_date <= '2024-07-16'" in duck(sql)
    assert col(lake, sql) == [2]
    # '2024-07-17T...' > '2024-07-17': ISO strings order as times do
    assert col(lake, "SELECT count(*) FROM cloudtrail WHERE eventtime > '2024-07-17'") == [4]


def test_translations_with_parameters_on_the_same_day_are_shared_and_others_are_not() -> None:
    sql = "SELECT count(*) FROM cloudtrail WHERE eventtime >= :since AND eventtime <= :until"
    morning = translate(sql, params={"since": "2024-07-16T08:00:00Z", "until": None})
    evening = translate(sql, params={"since": "2024-07-16T20:30:00Z", "until": None})
    assert morning.sql == evening.sql and "event_date >= '2024-07-16'" in morning.sql
    next_day = translate(sql, params={"since": "2024-07-17T08:00:00Z", "until": None})
    assert "event_date >= '2024-07-17'" in next_day.sql
    # an offset may move the UTC day: the bound widens instead of guessing
    offset = translate(sql, params={"since": "2024-07-16T00:30:00+02:00", "until": None})
    assert "event_date >= '2024-07-15'" in offset.sql
    with_until = translate(sql, params={"since": "2024-07-16T08:00:00Z", "until": "2024-07-18"})
    assert "event_date <= '2024-07-18'" in with_until.sql
    morning.notices.append("changed by a caller")
    assert "changed by a caller" not in evening.notices  # each caller gets its own copy


def test_from_iso8601_timestamp_date_trunc_and_parts(lake) -> None:
    sql = """SELECT DATE_TRUNC('hour', from_iso8601_timestamp(eventTime)) AS hour_bucket,
                    day(from_iso8601_timestamp(eventtime)) AS d,
                    hour(from_iso8601_timestamp(eventtime)) AS h, COUNT(*) AS n
             FROM cloudtrail WHERE eventname = 'GetObject' GROUP BY 1, 2, 3"""
    (row,) = rows(lake, sql)
    assert row["hour_bucket"].isoformat() == "2024-07-16T10:00:00+00:00"  # UTC, as in Athena
    assert (row["d"], row["h"], row["n"]) == (16, 10, 2)


def test_date_format_date_parse_and_to_iso8601(engine, lake) -> None:
    assert duck("SELECT date_format(x, '%Y-%m-%d %H:%i:%s') FROM t") == (
        "SELECT STRFTIME(x, '%Y-%m-%d %H:%M:%S') FROM cloudtrail AS t"
    )
    stamp = "from_iso8601_timestamp('2024-07-17T09:05:03Z')"
    assert value(engine, f"date_format({stamp}, '%Y-%m-%d %H:%i:%s')") == "2024-07-17 09:05:03"
    assert value(engine, f"to_iso8601({stamp})") == "2024-07-17T09:05:03.000Z"
    assert value(engine, "to_iso8601(DATE '2024-07-17')") == "2024-07-17"
    parsed = value(engine, "date_parse('2024-07-17 09:05:03', '%Y-%m-%d %H:%i:%s')")
    assert parsed.isoformat() == "2024-07-17T09:05:03"
    # to_iso8601 text compares with eventtime text
    sql = f"SELECT count(*) FROM cloudtrail WHERE eventtime > to_iso8601({stamp})"
    assert col(lake, sql) == [2]


def test_format_and_parse_datetime_joda_patterns(engine) -> None:
    stamp = "from_iso8601_timestamp('2024-07-07T09:05:03Z')"
    assert value(engine, f"format_datetime({stamp}, 'yyyy-MM-dd''T''HH:mm:ss')") == (
        "2024-07-07T09:05:03"
    )
    assert value(engine, f"format_datetime({stamp}, 'd MMM yyyy, h:mm a')") == "7 Jul 2024, 9:05 AM"
    parsed = value(engine, "parse_datetime('2024/07/07 09:05', 'yyyy/MM/dd HH:mm')")
    assert parsed.isoformat() == "2024-07-07T09:05:00"
    with pytest.raises(QueryError, match="'QQ'"):
        translate(f"SELECT format_datetime({stamp}, 'yyyy QQ')")


def test_date_diff_counts_whole_units(engine) -> None:
    assert duck("SELECT date_diff('hour', a, b) FROM t") == (
        "SELECT DATE_SUB('hour', a, b) FROM cloudtrail AS t"
    )
    expression = (
        "date_diff('hour', TIMESTAMP '2024-07-17 10:59:00', TIMESTAMP '2024-07-17 11:01:00')"
    )
    assert value(engine, expression) == 0  # Trino: 2 minutes are 0 whole hours (DuckDB: 1)
    assert value(engine, "date_diff('day', DATE '2024-07-01', DATE '2024-07-31')") == 30


def test_relative_times(lake) -> None:
    sql = """SELECT count(*) FROM cloudtrail
             WHERE from_iso8601_timestamp(eventtime) > current_timestamp - interval '7' day
                OR date_partition >= date_format(date_add('day', -30, current_timestamp),
                                                 '%Y/%m/%d')"""
    assert col(lake, sql) == [0]  # the tiny lake is in July 2024
    sql = "SELECT count(*) FROM cloudtrail WHERE from_iso8601_timestamp(eventtime) < now()"
    assert col(lake, sql) == [len(EVENTS)]


# --------------------------------------------------------------------------- aggregates


def test_array_agg_distinct_ordered_and_approx_distinct(lake) -> None:
    sql = """SELECT useridentity.arn, array_agg(DISTINCT(eventname) ORDER BY eventname) AS names,
                    approx_distinct(sourceipaddress) AS ips
             FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn"""
    assert rows(lake, sql) == [
        {
            "arn": ALICE,
            "names": [
                "CopyObject",
                "CreateAccessKey",
                "DeleteBucket",
                "GetObject",
                "RestoreDBInstanceFromDBSnapshot",
            ],
            "ips": 5,
        }
    ]


# --------------------------------------------------------------------------- metadata


def test_partitions_metadata_table(lake, engine) -> None:
    sql = 'SELECT * FROM default."cloudtrail_logs$partitions" ORDER BY partition_number'
    translation = translate(sql)
    assert translation.sql == (
        'SELECT * FROM "cloudtrail$partitions" AS "cloudtrail_logs$partitions" '
        "ORDER BY partition_number"
    )
    got = rows(lake, sql)
    assert [
        (r["partition_number"], r["event_date"], r["year"], r["month"], r["day"]) for r in got
    ] == [
        (1, "2024-07-16", "2024", "07", "16"),
        (2, "2024-07-17", "2024", "07", "17"),
    ]
    assert got[0]["date_partition"] == "2024/07/16"
    assert engine.query(translation.sql).num_rows == 0  # an empty lake has no partitions


def test_path_hidden_column_is_the_source_key(lake) -> None:
    assert duck('SELECT "$path" FROM t') == "SELECT sourcekey FROM cloudtrail AS t"
    (path,) = set(col(lake, 'SELECT "$path" FROM cloudtrail'))
    assert path.endswith("events.json.gz")


def test_session_time_zone_is_utc(engine) -> None:
    assert engine.query("SELECT current_setting('TimeZone') AS tz").to_pylist() == [{"tz": "UTC"}]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE EXTERNAL TABLE t (a STRING) LOCATION 's3://b/'", "CREATE"),
        ("CREATE TABLE x WITH (format = 'ORC') AS SELECT * FROM cloudtrail", "CREATE"),
        ("INSERT INTO x SELECT * FROM cloudtrail", "INSERT"),
        ("ALTER TABLE t ADD PARTITION (day='01') LOCATION 's3://b/'", "ALTER"),
    ],
)
def test_statements_other_than_queries_are_refused(sql: str, kind: str) -> None:
    with pytest.raises(QueryError, match=f"only queries can run here, not {kind}"):
        translate(sql)


def test_unsupported_functions_and_types_are_named(lake) -> None:
    with pytest.raises(QueryError, match=r"(?i)json_array_contains"):
        lake.query("SELECT json_array_contains(requestparameters, 'x') FROM cloudtrail")
    with pytest.raises(QueryError, match=r"(?i)ipprefix"):
        lake.query("SELECT CAST('10.0.0.0/8' AS IPPREFIX) FROM cloudtrail")


# --------------------------------------------------------------------------- struct pruning


def test_only_the_struct_fields_named_are_read_and_filters_stay_on_stored_columns() -> None:
    sql = duck(
        "SELECT c.useridentity.sessioncontext.sessionissuer.username, count(DISTINCT "
        "tlsdetails.tlsversion) FROM cloudtrail c WHERE useridentity.type = 'Root' GROUP BY 1"
    )
    assert sql == (
        "SELECT c.useridentity.sessioncontext.sessionissuer.username, "
        "COUNT(DISTINCT tlsdetails.tlsversion) FROM (SELECT * REPLACE ("
        "{'tlsversion': c.tlsdetails.\"tlsversion\"} AS tlsdetails, "
        "{'sessioncontext': {'sessionissuer': {'username': "
        'c.useridentity."sessioncontext"."sessionissuer"."username"}}, '
        "'type': c.useridentity.\"type\"} AS useridentity) "
        "FROM cloudtrail AS c WHERE useridentity.type = 'Root') AS c GROUP BY 1"
    )


def test_each_scan_reads_only_the_struct_fields_its_own_select_names() -> None:
    sql = duck(
        "WITH keys AS (SELECT useridentity.accesskeyid AS k FROM cloudtrail), "
        "who AS (SELECT useridentity.arn AS a, useridentity.type AS t FROM cloudtrail) "
        "SELECT * FROM keys, who"
    )
    assert sql == (
        "WITH keys AS (SELECT useridentity.accesskeyid AS k FROM (SELECT * REPLACE ("
        "{'accesskeyid': cloudtrail.useridentity.\"accesskeyid\"} AS useridentity) "
        "FROM cloudtrail AS cloudtrail) AS cloudtrail), "
        "who AS (SELECT useridentity.arn AS a, useridentity.type AS t FROM (SELECT * REPLACE ("
        "{'arn': cloudtrail.useridentity.\"arn\", 'type': cloudtrail.useridentity.\"type\"} "
        "AS useridentity) FROM cloudtrail AS cloudtrail) AS cloudtrail) SELECT * FROM keys, who"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM cloudtrail WHERE useridentity.arn = 'x'",  # every column, whole
        "SELECT c.* FROM cloudtrail c WHERE useridentity.arn = 'x'",
        "SELECT useridentity FROM cloudtrail",
        "SELECT count(*) FROM cloudtrail WHERE useridentity IS NULL",
        "SELECT useridentity.nosuchfield FROM cloudtrail",  # the engine's own error stays
        "SELECT eventname FROM cloudtrail",
    ],
)
def test_structs_used_whole_or_unknown_paths_are_left_alone(sql: str) -> None:
    assert "REPLACE" not in duck(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT useridentity.arn AS a, count(DISTINCT sourceipaddress) AS n FROM cloudtrail "
        "WHERE useridentity.sessioncontext.sessionissuer.type IS NULL GROUP BY 1 ORDER BY 1",
        "SELECT x.useridentity.arn AS a, y.eventname AS e FROM cloudtrail x JOIN cloudtrail y "
        "ON x.useridentity.accountid = y.recipientaccountid AND x.eventid < y.eventid "
        "WHERE x.useridentity.type = 'IAMUser' ORDER BY 1, 2",
        "WITH w AS (SELECT useridentity.sessioncontext AS sc, tlsdetails.tlsversion AS v "
        "FROM cloudtrail) SELECT sc.attributes.mfaauthenticated AS m, v FROM w ORDER BY 1, 2",
        "SELECT * FROM (SELECT useridentity.arn AS a, eventname FROM cloudtrail) AS s "
        "WHERE a IS NOT NULL ORDER BY 1, 2",
        "SELECT eventname FROM cloudtrail WHERE useridentity.arn IN (SELECT useridentity.arn "
        "FROM cloudtrail c2 WHERE c2.useridentity.type = 'IAMUser') ORDER BY 1",
        # the inner scan names a field of the outer one's (a correlated subquery)
        "SELECT eventname FROM cloudtrail c WHERE EXISTS (SELECT 1 FROM cloudtrail d "
        "WHERE d.useridentity.accountid = c.useridentity.accountid "
        "AND c.useridentity.type = 'IAMUser' AND d.eventid <> c.eventid) ORDER BY 1",
        "WITH k AS (SELECT useridentity.type AS t, useridentity.arn AS key FROM cloudtrail), "
        "a AS (SELECT useridentity.accountid AS acct, useridentity.arn AS key FROM cloudtrail) "
        "SELECT t, acct, count(*) AS n FROM a JOIN k ON a.key = k.key GROUP BY 1, 2 "
        "ORDER BY 1, 2",
    ],
)
def test_pruned_structs_give_the_same_rows_as_whole_ones(lake, sql: str) -> None:
    pruned = duck(sql)
    assert "REPLACE" in pruned
    engine = lake.engine()
    whole = engine.query(sqlglot_duckdb(sql)).to_pylist()
    assert engine.query(pruned).to_pylist() == whole
    assert whole  # the tiny lake answers each of these


def sqlglot_duckdb(sql: str) -> str:
    """The same query without trailscope's rules: plain sqlglot, Athena to DuckDB."""
    import sqlglot

    return sqlglot.transpile(sql, read="athena", write="duckdb")[0]


#: A query built the way a popular boto3 Athena snippet builds it, by pasting a value into the
#: text: a name with an apostrophe leaves a string open.
_PASTED = "SELECT * FROM cloudtrail WHERE useridentity.username = '" + "O'Brien" + "'"


@pytest.mark.parametrize(
    ("sql", "message", "hint"),
    [
        (
            _PASTED,
            "cannot read the SQL: a string starts here and never ends (line 1, column 64)",
            "close it with '; a quote inside a string is written twice ('O''Brien'), and SQL "
            "built by pasting values into its text breaks on such values: pass them as "
            "parameters",
        ),
        (
            "SELECT eventname\nFROM cloudtrail\nWHERE eventname = 'ConsoleLogin",
            "cannot read the SQL: a string starts here and never ends (line 3, column 19)",
            None,
        ),
        (
            'SELECT "eventname FROM cloudtrail',
            "cannot read the SQL: a quoted name starts here and never ends (line 1, column 8)",
            "close the name with the same quote it opens with",
        ),
        (
            "SELECT 1 /* a comment -- 'not a string\nFROM cloudtrail",
            "cannot read the SQL: a comment starts here and never ends (line 1, column 10)",
            "close the comment with */",
        ),
    ],
)
def test_unclosed_quotes_are_one_line_with_where_and_a_hint(
    sql: str, message: str, hint: str | None
) -> None:
    with pytest.raises(QueryError) as info:
        translate(sql)
    assert info.value.message == message
    if hint is not None:
        assert info.value.hint == hint


def test_a_cte_with_its_own_eventtime_gets_no_partition_bounds() -> None:
    """Only the SELECT that reads the lake is bounded: a CTE has no event_date to compare."""
    sql = (
        "WITH logins AS (SELECT eventtime AS eventtime FROM cloudtrail "
        "WHERE eventtime >= '2024-07-01T00:00:00Z') "
        "SELECT count(*) AS n FROM logins WHERE eventtime >= '2024-07-02T00:00:00Z'"
    )
    out = translate(sql, dialect="duckdb").sql
    inner, outer = out.split("FROM logins")
    assert "event_date" in inner and "event_date" not in outer


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["duckdb", "spark", "athena"])
def test_a_translation_kept_for_any_day_equals_a_fresh_one(dialect: str) -> None:
    """Translations are kept with stand-in days and the real days put in afterwards: for every
    saved query and rule, on days either side of a month's and a year's end, with and without
    an offset, that must be exactly the SQL a translation made for those days gives."""
    from trailscope.detect.loader import load_rules
    from trailscope.queries import load_library
    from trailscope.sql import _translate

    queries = [q.sql for q in load_library().values()]
    queries += [r.sql for r in load_rules([], include_builtin=True).rules if r.sql][::10]
    windows = [
        {"since": "2024-07-01T00:00:00Z", "until": "2024-07-31T23:59:59Z"},
        {"since": "2024-12-31T23:00:00+09:00", "until": "2025-01-01T02:00:00-05:00"},
        {"since": "2024-02-28T10:00:00Z", "lookback_since": "2024-02-27T10:00:00Z"},
        {"since": "2024-03-01", "until": "2024-03-01"},
        {"since": "0000-01-01", "until": "9999-12-31T23:59:59Z"},  # days no stand-in mirrors
    ]
    compared = 0
    for sql in queries:
        for params in windows:
            kept = translate(sql, dialect=dialect, params=params).sql
            fresh = _translate(sql, dialect, params).sql
            assert kept == fresh, (sql[:80], params)
            compared += "event_date" in fresh
    assert compared > 50  # the bounds were there to compare
