"""Athena SQL in, engine SQL out.

People paste CloudTrail queries from AWS docs, runbooks and blog posts, written for Athena (Trino)
against a table of their own naming. This module makes them run on the lake unchanged:

* any table that is not a CTE of the query is the lake's ``cloudtrail`` table (with a notice),
  keeping the original name as an alias so qualified column references still resolve;
* the partition columns of the common Athena DDLs (``timestamp``, ``date_partition``,
  ``region_partition``, ``account_partition``, ``region``, ``year``/``month``/``day``) exist as
  columns of the lake's view (see :data:`COMPAT_COLUMNS`);
* time predicates on ``eventtime`` (ISO strings compare in time order) and on those partition
  columns also bound ``event_date``, so the engine reads only the days it needs;
* sqlglot transpiles functions and syntax to the engine's dialect, with a few rules of our own
  where the engines differ (:func:`_duckdb_rules`): Trino's results for the JSON functions,
  IPADDRESS and ``contains(cidr, ip)``, ``UNNEST`` of arrays of rows, ``regexp_extract``,
  ``split_part``, ``date_diff``, ``to_iso8601`` and the Joda-pattern date functions; dot
  access into the JSON text columns (``requestparameters.bucketName``); numeric casts that
  give NULL instead of stopping the query; and ``"<table>$partitions"``, the lake's partitions.
  Each rule that changes what a query means says so in a notice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from trailscope.decode.schema import (
    EVENT_FIELDS,
    EXTRA,
    PARTITION,
    SOURCEKEY,
    TABLE_SCHEMA,
    Kind,
    column_paths,
)
from trailscope.errors import TrailscopeError
from trailscope.lake.paths import SIDE_TABLES
from trailscope.sqlbounds import bound_partitions, day_of

TABLE = "cloudtrail"
#: Athena's metadata table of a table's partitions: any ``"<table>$partitions"`` reads this view
#: (one row per day of the lake: ``partition_number``, ``event_date``, ``year``, ...).
PARTITIONS_SUFFIX = "$partitions"
PARTITIONS_TABLE = f"{TABLE}{PARTITIONS_SUFFIX}"

#: Columns that common Athena CloudTrail DDLs partition by, as expressions of our columns.
COMPAT_COLUMNS: dict[str, str] = {
    "timestamp": f"replace({PARTITION}, '-', '/')",  # projection 'yyyy/MM/dd'
    "date_partition": f"replace({PARTITION}, '-', '/')",
    "region_partition": "awsregion",
    "account_partition": "recipientaccountid",
    "region": "awsregion",
    # AWS's multi-account partition-projection DDL: .../AWSLogs/${account}/.../${region}/${date}
    "account": "recipientaccountid",
    "date": f"replace({PARTITION}, '-', '/')",  # projection 'yyyy/MM/dd'
    "year": f"substr({PARTITION}, 1, 4)",
    "month": f"substr({PARTITION}, 6, 2)",
    "day": f"substr({PARTITION}, 9, 2)",
}


class QueryError(TrailscopeError):
    """The SQL cannot run: where it fails (line, column) and, when we can tell, what to write."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if line is not None:
            where = f" (line {line}" + (f", column {column})" if column is not None else ")")
        super().__init__(f"{message}{where}", hint=hint)
        self.line = line
        self.column = column


@dataclass
class Translation:
    """What will run, and what the user should know about the rewriting."""

    source: str
    sql: str
    dialect: str
    notices: list[str] = field(default_factory=list)


def translate(
    athena_sql: str, *, dialect: str = "duckdb", params: dict[str, object] | None = None
) -> Translation:
    """Rewrite one Athena SELECT for ``dialect`` (duckdb, spark, trino/athena).

    ``params`` are the values that ``:name`` placeholders will be bound to; they stay bound
    parameters in the SQL and are only read here to derive partition bounds.

    Translations are remembered: parsing and rewriting with sqlglot often takes longer than
    the query itself, and programs and pages ask the same questions again. Parameter
    values only matter through the day they name, so '24h ago' computed a minute later is the
    same translation.
    """
    days = _days_named(params or {})
    done = _with_days(athena_sql, dialect, days)
    return replace(done, notices=list(done.notices))


def _days_named(params: dict[str, object]) -> tuple[tuple[str, tuple[str, bool] | None], ...]:
    """What the rewriting reads of the parameters: the day (and UTC-ness) of text values."""
    return tuple(
        sorted((k, day_of(exp.Literal.string(v))) for k, v in params.items() if isinstance(v, str))
    )


#: Stand-in days (one year each, so a day either side stays apart) for a translation kept
#: whatever the days: a watch or a dashboard asks the same question about a new day each time.
_STAND_IN_YEARS = range(1001, 1051)
#: an offset can move a bound to the day before or after (see :mod:`trailscope.sqlbounds`)
_SHIFTS = (timedelta(days=-1), timedelta(0), timedelta(days=1))


def _with_days(
    athena_sql: str, dialect: str, days: tuple[tuple[str, tuple[str, bool] | None], ...]
) -> Translation:
    """The translation for these days: the one made with stand-in days, the stand-ins' bounds
    (a day either side, for offsets) replaced by the real ones in its text."""
    named = [(k, d) for k, d in days if d]
    if len(named) > len(_STAND_IN_YEARS):
        return _remembered(athena_sql, dialect, days)
    shape: list[tuple[str, tuple[str, bool] | None]] = []
    moves: list[tuple[str, str]] = []
    for year, (name, (day, is_utc)) in zip(_STAND_IN_YEARS, named, strict=False):
        stand_in = date(year, 6, 15)
        try:
            real = date.fromisoformat(day)
            moves += [(f"'{stand_in + step}'", f"'{real + step}'") for step in _SHIFTS]
        except (ValueError, OverflowError):  # '0000-01-01', or a bound at year 1 or 9999
            return _remembered(athena_sql, dialect, days)
        shape.append((name, (stand_in.isoformat(), is_utc)))
    stand_ins = {old for old, _ in moves}
    if any(old in athena_sql or new in stand_ins for old, new in moves):
        return _remembered(athena_sql, dialect, days)  # the stand-ins must be unmistakable
    template = _remembered(athena_sql, dialect, tuple(shape))
    text = template.sql
    for old, new in moves:
        text = text.replace(old, new)
    return replace(template, sql=text)


@lru_cache(maxsize=256)
def _remembered(
    athena_sql: str, dialect: str, days: tuple[tuple[str, tuple[str, bool] | None], ...]
) -> Translation:
    # Any text with the same day and UTC-ness gives the same bounds: rebuild one from the key.
    stand_in = {k: f"{d[0]}T00:00:00{'Z' if d[1] else '+01:00'}" for k, d in days if d}
    return _translate(athena_sql, dialect, stand_in)


def _translate(athena_sql: str, dialect: str, params: Mapping[str, object]) -> Translation:
    tree = parse(athena_sql)
    notices: list[str] = []
    _map_tables(tree, notices)
    bound_partitions(tree, params, TABLE)
    if dialect == "duckdb":
        tree = _duckdb_rules(tree, notices)
    out_dialect = "trino" if dialect == "athena" else dialect
    return Translation(athena_sql, tree.sql(dialect=out_dialect, pretty=False), dialect, notices)


def parse(athena_sql: str) -> exp.Expr:
    """Parse one read-only statement, or raise a QueryError that points at the problem."""
    text = athena_sql.strip().rstrip(";").strip()
    if not text:
        raise QueryError("the query is empty", hint="write a SELECT over the table 'cloudtrail'")
    quiet = _QuietJSONPaths()
    logging.getLogger("sqlglot").addFilter(quiet)
    try:
        statements = sqlglot.parse(text, read="athena")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise QueryError(
            f"cannot parse the SQL: {_readable(first.get('description') or str(exc))}",
            line=first.get("line"),
            column=first.get("col"),
        ) from None
    except TokenError:
        raise _token_error(text) from None
    finally:
        logging.getLogger("sqlglot").removeFilter(quiet)
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise QueryError(
            f"expected one statement, found {len(found)}", hint="run statements one at a time"
        )
    tree = found[0]
    if not isinstance(tree, exp.Query):
        # The statement's own first word: sqlglot parses some (INSTALL, LOAD) as odd nodes.
        words = [t.text for t in sqlglot.tokenize(text, read="athena") if t.text]
        kind = words[0].upper() if words else tree.key.upper()  # comments are not tokens
        raise QueryError(
            f"only queries can run here, not {kind}",
            hint="the lake is read-only through SQL; use 'trailscope ingest' to add data",
        )
    return tree


#: What opens a quoted part of SQL, what closes it, and what to call it in a message.
_QUOTES = {"'": ("'", "string"), '"': ('"', "quoted name"), "`": ("`", "quoted name")}
_UNCLOSED_HINT = {
    "string": "close it with '; a quote inside a string is written twice ('O''Brien'), and SQL "
    "built by pasting values into its text breaks on such values: pass them as parameters",
    "quoted name": "close the name with the same quote it opens with",
    "comment": "close the comment with */",
}


def _token_error(text: str) -> QueryError:
    """The error for SQL that cannot even be split into words (sqlglot's TokenError names no
    place): find the quote or comment left open, and say where it starts."""
    i, line, column = 0, 1, 1
    opened: tuple[str, int, int] | None = None
    while i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            close, kind = _QUOTES[ch]
            start = (kind, line, column)
            j = i + 1
            while True:
                j = text.find(close, j)
                if j < 0 or text[j + 1 : j + 2] != close:
                    break
                j += 2  # a doubled quote stands for itself
            if j < 0:
                opened = start
                break
            skipped = text[i : j + 1]
        elif text.startswith("--", i):
            end = text.find("\n", i)
            skipped = text[i:] if end < 0 else text[i:end]
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                opened = ("comment", line, column)
                break
            skipped = text[i : end + 2]
        else:
            skipped = ch
        newlines = skipped.count("\n")
        line += newlines
        column = len(skipped) - skipped.rfind("\n") if newlines else column + len(skipped)
        i += len(skipped)
    if opened is None:  # not an open quote: say what sqlglot could not read, without a place
        return QueryError("cannot read the SQL: it has a character or quote sqlglot cannot split")
    kind, at_line, at_column = opened
    return QueryError(
        f"cannot read the SQL: a {kind} starts here and never ends",
        line=at_line,
        column=at_column,
        hint=_UNCLOSED_HINT[kind],
    )


class _QuietJSONPaths(logging.Filter):
    """sqlglot warns about JSON paths it cannot model ('$.x-amz-copy-source'); they still work."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "JSON path" not in record.getMessage()


_TOKEN_REPR = re.compile(r"<Token token_type: [\w.]+, text: (.*?), line: \d+.*?>")


def _readable(description: str) -> str:
    """sqlglot describes tokens by their repr; a user wants the text they wrote."""
    return _TOKEN_REPR.sub(lambda m: m.group(1), description)


def _map_tables(tree: exp.Expr, notices: list[str]) -> None:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Func | exp.Unnest) or not table.name:
            continue
        name = table.name.lower()
        if not table.db and (name in ctes or name in SIDE_TABLES):
            continue
        full = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        target = PARTITIONS_TABLE if name.endswith(PARTITIONS_SUFFIX) else TABLE
        if full.lower() != target and target == PARTITIONS_TABLE:
            notices.append(f"table {full} lists the lake's partitions ('{PARTITIONS_TABLE}')")
        elif full.lower() != target:
            notices.append(f"table {full} is read from the lake (as '{TABLE}')")
        alias = table.alias or (table.name if name != target else None)
        new = exp.Table(this=exp.to_identifier(target))
        if alias:  # keep the old name usable in qualified column references
            new.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        table.replace(new)


# --------------------------------------------------------------------------- engine rules
#
# Where Trino (Athena) and DuckDB differ in ways sqlglot leaves alone. Each rule is a small
# function of the parsed tree. The ``athena_*`` functions the rules call are DuckDB macros that
# the DuckDB engine creates along with the view (trailscope/engines/duckdb.py).

#: Columns kept as JSON text (Athena's CloudTrail DDL types them STRING).
JSON_COLUMNS = frozenset([f.name for f in EVENT_FIELDS if f.kind is Kind.JSON] + [EXTRA])

#: Trino's hidden column with the data file of a row: for a CloudTrail table, the log object.
_HIDDEN_COLUMNS = {"$path": SOURCEKEY}

_T = exp.DataType.Type
_NUMERIC = frozenset({_T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT, _T.FLOAT, _T.DOUBLE, _T.DECIMAL})
_JSON_VALUED = (exp.JSONExtract, exp.ParseJSON)
#: Where an IPADDRESS value is compared or sorted (so it must be orderable, not text).
_IP_COMPARED = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Between,
    exp.In,
    exp.Ordered,
)


def _duckdb_rules(tree: exp.Expr, notices: list[str] | None = None) -> exp.Expr:
    """Where Trino and DuckDB differ in ways sqlglot leaves alone."""
    notes: list[str] = []
    for rule in (
        _rule_hidden_columns,
        _rule_json_dot_access,
        _rule_json_functions,
        _rule_ipaddress,
        _rule_numeric_casts,
        _rule_regexp,
        _rule_strings_and_counts,
        _rule_date_diff,
        _rule_datetime_formats,
        _rule_unnest_rows,
        _rule_prune_structs,
    ):
        tree = rule(tree, notes)
    if notices is not None:
        notices.extend(dict.fromkeys(notes))  # once each, in order
    return tree


def _call(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _replace(tree: exp.Expr, node: exp.Expr, new: exp.Expr) -> exp.Expr:
    """Replace ``node`` in ``tree``; return the tree's root (``new`` if ``node`` was it)."""
    if node is tree:
        return new
    node.replace(new)
    return tree


def _rule_hidden_columns(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """``"$path"`` (the data file of a row) is the ``sourcekey`` column."""
    for col in list(tree.find_all(exp.Column)):
        target = _HIDDEN_COLUMNS.get(col.name.lower())
        if target:
            notes.append(f'"{col.name}" is read as {target} (the log file of each event)')
            col.set("this", exp.to_identifier(target))
    return tree


# ---- JSON


def _chain(node: exp.Expr) -> list[exp.Identifier] | None:
    """The identifiers of ``a.b.c.d...`` (a Column, or Dots around one), or None."""
    if isinstance(node, exp.Column):
        given = [node.args.get(k) for k in ("catalog", "db", "table")] + [node.this]
        parts = [p for p in given if p is not None]
        names = [p for p in parts if isinstance(p, exp.Identifier)]
        return names if len(names) == len(parts) else None
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
        head = _chain(node.this)
        return None if head is None else [*head, node.expression]
    return None


def _relations(tree: exp.Expr) -> set[str]:
    """Names that qualify columns in ``tree``: table names and aliases, lowercased."""
    names = {a.name.lower() for a in tree.find_all(exp.TableAlias) if a.name}
    return names | {t.name.lower() for t in tree.find_all(exp.Table) if t.name}


def _dotted_chains(
    tree: exp.Expr,
) -> Iterator[tuple[exp.Expr, list[exp.Identifier], list[str]]]:
    """Each whole ``a.b.c...`` reference (node, identifiers, lowercased names), longest only."""
    for node in list(tree.find_all(exp.Column, exp.Dot)):
        parent = node.parent
        if isinstance(parent, exp.Dot) and parent.this is node:
            continue  # part of a longer chain, yielded with it
        parts = _chain(node)
        if parts:
            yield node, parts, [p.name.lower() for p in parts]


def _json_key(key: str) -> str:
    if key.replace("_", "a").isalnum() and not key[:1].isdigit():
        return "." + key
    if '"' in key:
        raise QueryError(f"the JSON key {key!r} (with a double quote) is not supported")
    return f'."{key}"'


def _rule_json_dot_access(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """``requestparameters.bucketName`` -> the value at ``$.bucketName`` of the JSON text.

    Athena's CloudTrail table types requestparameters (and the other free-form fields) as
    STRING; queries written for a table that declares them as structs use dot access. The
    value is the field's text (numbers as written, objects and arrays as JSON text), NULL
    when the field is missing, as a struct field would be.
    """
    relations = _relations(tree)
    for node, parts, names in _dotted_chains(tree):
        parent = node.parent
        at = next((i for i, n in enumerate(names[:-1]) if n in JSON_COLUMNS), None)
        if at is None:
            continue
        qualified = at > 0 and names[at - 1] in relations
        if not (qualified or (at == 0 and names[0] not in relations)):
            continue
        column = exp.Column(this=parts[at].copy())
        if qualified:
            column.set("table", parts[at - 1].copy())
        path = "$" + "".join(_json_key(p.name) for p in parts[at + 1 :])
        written = ".".join(p.name for p in parts[at:])
        notes.append(
            f"{written} is read as json_extract_scalar({names[at]}, '{path}') "
            f"({names[at]} is JSON text in the lake)"
        )
        new: exp.Expr = _call("athena_json_field", column, exp.Literal.string(path))
        if isinstance(parent, exp.Select) and node.arg_key == "expressions":
            new = exp.alias_(new, parts[-1].copy())  # the column keeps the field's name
        tree = _replace(tree, node, new)
    return tree


def _json_path(node: exp.Expr) -> exp.Expr:
    """A Trino JSON path as DuckDB writes it (``$["a-b"][0]`` -> ``$."a-b"[0]``)."""
    if not isinstance(node, exp.JSONPath):
        return node  # a literal sqlglot could not parse (DuckDB reads it), or an expression
    text = ""
    for part in node.expressions:
        if isinstance(part, exp.JSONPathRoot):
            text += "$"
        elif isinstance(part, exp.JSONPathKey) and isinstance(part.this, str):
            text += _json_key(part.this)
        elif isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int):
            text += f"[{part.this}]"
        else:
            raise QueryError(
                f"the JSON path {node.sql(dialect='trino')} is not supported",
                hint="use keys and array indexes: '$.a.b[0]' or '$[\"a-b\"]'",
            )
    return exp.Literal.string(text)


def _rule_json_functions(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """json_extract_scalar / json_extract / CAST(json AS varchar) with Trino's results.

    * json_extract_scalar: the scalar as text; NULL for objects, arrays, JSON null, a missing
      path or text that is not JSON (DuckDB's ``->>`` returns objects as text and fails on
      invalid JSON);
    * json_extract: the JSON value; NULL for a missing path or invalid JSON text;
    * CAST(<json> AS VARCHAR): a JSON string's value without quotes (DuckDB keeps them).
    """
    for cast in list(tree.find_all(exp.Cast)):
        if cast.to.is_type(_T.VARCHAR, _T.TEXT) and (
            isinstance(cast.this, _JSON_VALUED)
            or (isinstance(cast.this, exp.Cast) and cast.this.to.is_type(_T.JSON))
        ):
            tree = _replace(tree, cast, _call("athena_json_to_varchar", cast.this))
    for node in list(tree.find_all(exp.JSONExtractScalar, exp.JSONExtract)):
        name = (
            "athena_json_extract_scalar"
            if isinstance(node, exp.JSONExtractScalar)
            else "athena_json_extract"
        )
        new = _call(name, node.this, _json_path(node.expression))
        tree = _replace(tree, node, new)
    return tree


# ---- IPADDRESS


def _is_ip_cast(node: exp.Expr, kind: exp.DType = _T.IPADDRESS) -> bool:
    return isinstance(node, exp.Cast) and node.to.is_type(kind)


def _rule_ipaddress(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """IPADDRESS values and ``contains(cidr, address)`` with string and integer math.

    DuckDB's inet extension is not bundled, so where an address is compared or sorted it
    becomes the 128-bit number Trino stores (IPv4 as ::ffff:a.b.c.d, so IPv4 and IPv6
    addresses order as in Trino); elsewhere it is the address text. Text that is not an address
    gives NULL (Athena stops the query).
    """
    for node in list(tree.find_all(exp.ArrayContains)):
        if _is_ip_cast(node.expression):
            network = node.this.this if _is_ip_cast(node.this, _T.IPPREFIX) else node.this
            new = _call("athena_ip_in_cidr", network, node.expression.this)
            tree = _replace(tree, node, new)
    for cast in list(tree.find_all(exp.Cast)):
        if not _is_ip_cast(cast):
            continue
        compared = isinstance(cast.parent, _IP_COMPARED)
        notes.append(
            "CAST(... AS IPADDRESS) compares 128-bit addresses; text that is not an IP "
            "address gives NULL instead of stopping the query"
        )
        tree = _replace(
            tree, cast, _call("athena_ip_key" if compared else "athena_ip_text", cast.this)
        )
    return tree


# ---- casts, regular expressions, dates


def _rule_numeric_casts(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """CAST(column AS BIGINT/DOUBLE/...) -> TRY_CAST, with a notice.

    CloudTrail text that looks numeric is not always a number (an accountid 'anonymous' or
    'redacted', a bytesTransferredOut missing from an object): Athena stops the whole query on
    the first such row, trailscope gives NULL for it. Casts of literals stay strict.
    """
    for cast in list(tree.find_all(exp.Cast)):
        if type(cast) is not exp.Cast or cast.to.this not in _NUMERIC:
            continue
        inner = cast.this
        if isinstance(inner, exp.Literal | exp.AggFunc | exp.Binary) or (
            isinstance(inner, exp.Neg) and isinstance(inner.this, exp.Literal)
        ):
            continue  # a literal must be a number; counts and sums already are
        notes.append(
            f"CAST(... AS {cast.to.sql(dialect='trino')}) runs as TRY_CAST: a value that is "
            "not a number gives NULL instead of stopping the query"
        )
        tree = _replace(tree, cast, exp.TryCast(this=inner, to=cast.to))
    return tree


def _trino_replacement(text: str) -> str:
    """A Trino (Java) regexp replacement (``$1``, ``\\$``) in RE2's syntax (``\\1``, ``$``)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if c == "\\" and nxt:
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
        elif c == "$" and nxt.isdigit():
            out.append("\\" + nxt)
            i += 2
        elif c == "$" and nxt == "{":
            raise QueryError(
                "named groups in a regexp_replace replacement (${name}) are not supported",
                hint="number the groups: $1, $2, ...",
            )
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _rule_regexp(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """regexp_extract is NULL when nothing matches (DuckDB: ''); replacements use ``$1``."""
    for node in list(tree.find_all(exp.RegexpExtract)):
        test = exp.RegexpLike(this=node.this.copy(), expression=node.expression.copy())
        tree = _replace(tree, node, exp.Case(ifs=[exp.If(this=test, true=node.copy())]))
    for replace_call in tree.find_all(exp.RegexpReplace):
        replacement = replace_call.args.get("replacement")
        if isinstance(replacement, exp.Literal) and replacement.is_string:
            text = _trino_replacement(replacement.this)
            replace_call.set("replacement", exp.Literal.string(text))
    return tree


def _rule_strings_and_counts(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """split_part past the last field is NULL (DuckDB: ''); count_if is a BIGINT (DuckDB:
    a 128-bit integer, which Arrow and the exports turn into a decimal)."""
    for node in list(tree.find_all(exp.SplitPart)):
        delimiter, index = node.args.get("delimiter"), node.args.get("part_index")
        if delimiter is not None and index is not None:
            tree = _replace(tree, node, _call("athena_split_part", node.this, delimiter, index))
    for count in list(tree.find_all(exp.CountIf)):
        if not isinstance(count.parent, exp.Cast):
            tree = _replace(tree, count, exp.cast(count.copy(), _T.BIGINT))
    return tree


def _rule_date_diff(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """date_diff counts whole units (Trino); DuckDB's date_diff counts boundaries crossed."""
    for node in list(tree.find_all(exp.DateDiff)):
        unit = node.args.get("unit")
        name = unit.name.lower() if unit is not None else "day"
        new = _call("date_sub", exp.Literal.string(name), node.expression, node.this)
        tree = _replace(tree, node, new)
    return tree


#: Joda-Time pattern letters (format_datetime, parse_datetime) as strftime directives.
_JODA = {
    "yyyy": "%Y",
    "yy": "%y",
    "y": "%Y",
    "YYYY": "%Y",
    "xxxx": "%G",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%-m",
    "dd": "%d",
    "d": "%-d",
    "DDD": "%j",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "SSSSSS": "%f",
    "SSS": "%g",
    "a": "%p",
    "EEEE": "%A",
    "EEE": "%a",
    "E": "%a",
    "ZZ": "%z",
    "Z": "%z",
    "z": "%Z",
}


def _joda_to_strftime(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:  # '' is a quote
                out.append("'")
                i += 2
                continue
            literal = pattern[i + 1 : end] if end > 0 else pattern[i + 1 :]
            out.append(literal.replace("%", "%%"))
            i = end + 1 if end > 0 else len(pattern)
        elif c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            run = pattern[i:j]
            if run not in _JODA:
                raise QueryError(
                    f"the date pattern letters {run!r} (in {pattern!r}) are not supported",
                    hint="use date_format/date_parse with %Y-%m-%d %H:%i:%s",
                )
            out.append(_JODA[run])
            i = j
        else:
            out.append("%%" if c == "%" else c)
            i += 1
    return "".join(out)


def _rule_datetime_formats(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """to_iso8601 and the Joda-pattern functions format_datetime / parse_datetime."""
    for node in list(tree.find_all(exp.Anonymous)):
        name = node.name.lower()
        args = node.expressions
        if name == "to_iso8601" and len(args) == 1:
            tree = _replace(tree, node, _call("athena_to_iso8601", args[0]))
        elif name == "format_datetime" and len(args) == 2 and args[1].is_string:
            fmt = exp.Literal.string(_joda_to_strftime(args[1].this))
            tree = _replace(tree, node, _call("strftime", args[0], fmt))
    for parse_call in list(tree.find_all(exp.ParseDatetime)):
        given = parse_call.args.get("format")
        if isinstance(given, exp.Literal) and given.is_string:
            pattern = exp.Literal.string(_joda_to_strftime(given.this))
            tree = _replace(tree, parse_call, _call("strptime", parse_call.this, pattern))
    return tree


# ---- UNNEST

_UNNEST_ROWS = "SELECT UNNEST(_ts_row) FROM (SELECT UNNEST(_ts_array) AS _ts_row)"
_UNNEST_ROWS_ORDINAL = (
    "SELECT UNNEST(_ts_row), _ts_n FROM "
    "(SELECT UNNEST(_ts_array) AS _ts_row, generate_subscripts(_ts_array, 1) AS _ts_n)"
)


def _rule_unnest_rows(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """``UNNEST(array_of_rows) AS t(a, b, c)``: Trino makes one column per row field.

    DuckDB's UNNEST gives one struct column; with a single name (as in the AWS docs'
    ``UNNEST(resources) AS t(r)``, then ``t.r.arn``) that is already Trino's answer. Several
    arrays, ``UNNEST(a, b) AS t(x, y)``, are zipped (the shorter padded with NULL).
    """
    for unnest in list(tree.find_all(exp.Unnest)):
        if not isinstance(unnest.parent, exp.Join | exp.From):
            continue
        alias = unnest.args.get("alias")
        columns = list(alias.columns) if alias else []
        arrays = unnest.expressions
        ordinal = unnest.args.get("offset")
        if isinstance(ordinal, exp.Identifier):
            columns.append(ordinal)
        elif ordinal:  # WITH ORDINALITY without a name for it
            columns.append(exp.to_identifier("ordinality"))
        if len(arrays) == 1 and len(columns) > (2 if ordinal else 1):
            template = _UNNEST_ROWS_ORDINAL if ordinal else _UNNEST_ROWS
            query = sqlglot.parse_one(template, read="duckdb")
            for col in list(query.find_all(exp.Column)):
                if col.name == "_ts_array":
                    col.replace(arrays[0].copy())
        elif len(arrays) > 1:
            selects = [exp.Unnest(expressions=[a.copy()]) for a in arrays]
            if ordinal:
                longest = exp.Greatest(
                    this=exp.ArraySize(this=arrays[0].copy()),
                    expressions=[exp.ArraySize(this=a.copy()) for a in arrays[1:]],
                )
                positions = _call(
                    "range",
                    exp.Literal.number(1),
                    exp.Add(this=longest, expression=exp.Literal.number(1)),
                )
                selects.append(exp.Unnest(expressions=[positions]))
            query = exp.select(*selects)
        else:
            continue
        name = alias.this.copy() if alias and alias.this else exp.to_identifier("unnest")
        lateral = exp.Lateral(
            this=exp.Subquery(this=query),
            alias=exp.TableAlias(this=name, columns=[c.copy() for c in columns]),
        )
        unnest.replace(lateral)
    return tree


def suggest_column(name: str) -> str | None:
    """'did you mean' for a mistyped column: the closest known column path."""
    import difflib

    known = column_paths() + [f.name for f in TABLE_SCHEMA] + list(COMPAT_COLUMNS)
    if name.lower() in COMPAT_COLUMNS:  # 'account' is the trail's account, not the caller's
        return name.lower()
    low = name.lower().split(".")[-1]
    by_tail: dict[str, str] = {}
    for path in known:
        by_tail.setdefault(path.split(".")[-1], path)
    close = difflib.get_close_matches(low, list(by_tail), n=1, cutoff=0.7)
    return by_tail[close[0]] if close else None


# ---- reading only the struct fields a query uses


def _struct_fields(typ: pa.DataType) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in typ} if pa.types.is_struct(typ) else {}


#: The lake's struct columns and their fields (``useridentity``, ``tlsdetails``, ...).
STRUCT_COLUMNS: dict[str, pa.DataType] = {
    f.name: f.type for f in TABLE_SCHEMA if pa.types.is_struct(f.type)
}
#: A tree of the struct fields a query names; ``None`` marks a field used whole.
_Needed = dict[str, "_Needed | None"]


def _rule_prune_structs(tree: exp.Expr, notes: list[str]) -> exp.Expr:
    """Read only the struct fields a query names (``useridentity.arn``, not all 28 fields).

    DuckDB reads single struct fields from Parquet, but once a plan materializes rows (a CTE,
    ``count(DISTINCT ...)``, a window) it reads the whole struct: 10x the bytes for
    ``useridentity``. Each ``cloudtrail`` in the query becomes a subquery whose structs keep
    just the fields used, which gives the same answers for every dotted access. The fields
    are those named in the SELECT that reads that ``cloudtrail`` (its subqueries included):
    no other part of the query can reach its columns except through that SELECT's output,
    so one scan does not read the fields another scan needs. Left alone whenever a struct is
    used whole (``SELECT *``, ``useridentity IS NULL``, ``to_json(...)``) or a path is not in
    the schema (the engine then reports it as written).
    """
    tables = [
        t
        for t in tree.find_all(exp.Table)
        if not t.db and t.name.lower() == TABLE and not isinstance(t.this, exp.Func)
    ]
    if not tables or any(_expands_star(s) for s in tree.find_all(exp.Star)):
        return tree
    relations = _relations(tree)
    for table in tables:
        scope = table.find_ancestor(exp.Select) or tree
        pruned = _struct_fields_named(scope, relations)
        if not pruned:
            continue
        alias = exp.to_identifier(table.alias or TABLE).sql(dialect="duckdb")
        replace = ", ".join(
            f"{_struct_literal(f'{alias}.{name}', n)} AS {name}"
            for name, n in sorted(pruned.items())
        )
        inner = sqlglot.parse_one(
            f"SELECT * REPLACE ({replace}) FROM {TABLE} AS {alias}", read="duckdb"
        )
        select = table.parent.parent if isinstance(table.parent, exp.From) else None
        if isinstance(select, exp.Select) and not select.args.get("joins"):
            # The filters stay on the stored columns, where the engine can push them into the
            # scan (skipping row groups and rows before reading the other columns).
            where = select.args.get("where")
            if where is not None:
                inner.set("where", where.pop())
        sub = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        tree = _replace(tree, table, sub)
    return tree


def _struct_fields_named(scope: exp.Expr, relations: set[str]) -> dict[str, _Needed]:
    """The struct fields ``scope`` names, by struct; structs used whole are left out."""
    needed: dict[str, _Needed] = {}
    whole: set[str] = set()
    for _, _, names in _dotted_chains(scope):
        if names[0] in STRUCT_COLUMNS and names[0] not in relations:
            at = 0
        elif len(names) > 1 and names[0] in relations and names[1] in STRUCT_COLUMNS:
            at = 1
        else:
            continue
        struct = names[at]
        if not _add_path(needed.setdefault(struct, {}), STRUCT_COLUMNS[struct], names[at + 1 :]):
            whole.add(struct)
    return {name: n for name, n in needed.items() if name not in whole and n}


def _expands_star(star: exp.Star) -> bool:
    """``SELECT *`` / ``t.*`` straight over the lake (every struct used whole); a star over a
    subquery or CTE only repeats columns named inside it, and ``count(*)`` names none."""
    parent = star.parent
    if isinstance(parent, exp.Column):
        parent = parent.parent
    if not isinstance(parent, exp.Select):
        return False
    sources = [parent.args.get("from_"), *(parent.args.get("joins") or [])]
    return any(
        isinstance(src.this, exp.Table) and src.this.name.lower() == TABLE
        for src in sources
        if src is not None
    )


def _add_path(needed: _Needed, typ: pa.DataType, path: list[str]) -> bool:
    """Record ``path`` below a struct; False when it uses the struct whole or is unknown."""
    if not path:
        return False
    fields = _struct_fields(typ)
    head = path[0]
    if head not in fields:
        return False
    if len(path) == 1 or not pa.types.is_struct(fields[head]):
        needed[head] = None  # a leaf, a map, a list, or a sub-struct used whole
        return True
    sub = needed.get(head, {})
    if sub is None:
        return True  # already needed whole
    needed[head] = sub
    if not _add_path(sub, fields[head], path[1:]):
        needed[head] = None
    return True


def _struct_literal(source: str, needed: _Needed) -> str:
    items = []
    for name, sub in sorted(needed.items()):
        value = f'{source}."{name}"'
        items.append(f"'{name}': {value if sub is None else _struct_literal(value, sub)}")
    return "{" + ", ".join(items) + "}"
