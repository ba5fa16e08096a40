"""Account names: the ``accounts`` side table, from AWS Organizations or a file.

A file is CSV (a header naming ``account_id`` or ``id``, and ``name``; every other column is
a tag, such as ``env``) or YAML (a mapping of id to a name, or to ``{name:, tags: {..}}``).
A line that cannot be read stops the load with its line number: a silently skipped account
would show as a bare id where the user expects a name.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from trailscope.enrich.errors import EnrichError
from trailscope.errors import TrailscopeError

log = logging.getLogger(__name__)

TABLE = "accounts"

SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("email", pa.string()),
        pa.field("status", pa.string()),
        #: tags as ``key=value`` pairs joined by ``;``, sorted (one type on every engine)
        pa.field("tags", pa.string()),
        pa.field("source", pa.string()),
    ]
)

_ID = re.compile(r"\d{12}")


@dataclass
class Account:
    account_id: str
    name: str
    email: str | None = None
    status: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    source: str = "file"

    def row(self) -> dict[str, Any]:
        tags = ";".join(f"{k}={v}" for k, v in sorted(self.tags.items())) or None
        return {
            "account_id": self.account_id,
            "name": self.name,
            "email": self.email,
            "status": self.status,
            "tags": tags,
            "source": self.source,
        }


def accounts_table(accounts: Iterable[Account]) -> pa.Table:
    """The side table for ``accounts``, one row per id (the last one given wins)."""
    by_id = {a.account_id: a for a in accounts}
    return pa.Table.from_pylist([by_id[k].row() for k in sorted(by_id)], schema=SCHEMA)


def merge(current: pa.Table | None, new: pa.Table, *, replace: bool = False) -> pa.Table:
    """``new`` over ``current``: an id in both takes the new row; ``replace`` drops the rest."""
    rows = {} if replace or current is None else {r["account_id"]: r for r in current.to_pylist()}
    rows.update({r["account_id"]: r for r in new.to_pylist()})
    return pa.Table.from_pylist([rows[k] for k in sorted(rows)], schema=SCHEMA)


# ----------------------------------------------------------------------------- files


def load_file(path: str | Path) -> list[Account]:
    """Accounts from a CSV or YAML file (by its suffix; ``.yml``/``.yaml`` are YAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EnrichError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EnrichError(f"{p}: cannot be read ({e})") from None
    if p.suffix.lower() in (".yml", ".yaml"):
        return _load_yaml(p, text)
    return _load_csv(p, text)


def _load_csv(p: Path, text: str) -> list[Account]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise EnrichError(f"{p}: empty", hint="the first line names the columns: account_id,name")
    names = [h.strip().lower() for h in header]
    id_col = next((i for i, h in enumerate(names) if h in ("account_id", "id", "account")), None)
    name_col = next((i for i, h in enumerate(names) if h in ("name", "account_name")), None)
    if id_col is None or name_col is None:
        raise EnrichError(
            f"{p} line 1: the header needs an 'account_id' and a 'name' column",
            hint="for example: account_id,name,env",
        )
    email_col = names.index("email") if "email" in names else None
    out = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(names):
            raise EnrichError(f"{p} line {line}: {len(row)} fields, the header has {len(names)}")
        tags = {
            names[i]: row[i].strip()
            for i in range(len(names))
            if i not in (id_col, name_col, email_col) and row[i].strip()
        }
        email = row[email_col].strip() or None if email_col is not None else None
        out.append(_account(p, line, row[id_col], row[name_col], tags, email))
    return out


def _load_yaml(p: Path, text: str) -> list[Account]:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise EnrichError(f"{p}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise EnrichError(
            f"{p} line {root.start_mark.line + 1}: expected a mapping of account id to name",
            hint="for example: '111122223333: prod-payments'",
        )
    out = []
    loader = yaml.SafeLoader("")
    for key, value in root.value:
        line = key.start_mark.line + 1
        account_id = str(key.value)
        data = loader.construct_object(value, deep=True)
        if isinstance(data, str):
            out.append(_account(p, line, account_id, data, {}, None))
        elif isinstance(data, dict) and isinstance(data.get("name"), str):
            tags = data.get("tags") or {}
            if not isinstance(tags, dict):
                raise EnrichError(f"{p} line {line}: 'tags' must be a mapping of key to value")
            email = data.get("email")
            out.append(
                _account(
                    p,
                    line,
                    account_id,
                    data["name"],
                    {str(k): str(v) for k, v in tags.items()},
                    str(email) if email else None,
                )
            )
        else:
            raise EnrichError(
                f"{p} line {line}: account {account_id} needs a name",
                hint="write 'ID: name' or 'ID: {name: ..., tags: {env: prod}}'",
            )
    return out


def _account(
    p: Path, line: int, account_id: str, name: str, tags: dict[str, str], email: str | None
) -> Account:
    account_id = account_id.strip()
    if not _ID.fullmatch(account_id):
        raise EnrichError(
            f"{p} line {line}: {account_id[:40]!r} is not an account id",
            hint="an AWS account id is 12 digits (quote it in YAML to keep leading zeros)",
        )
    if not name.strip():
        raise EnrichError(f"{p} line {line}: account {account_id} has an empty name")
    return Account(account_id, name.strip(), email, None, tags, source=p.name)


# ---------------------------------------------------------------------- Organizations


def load_organization(
    *, profile: str | None = None, endpoint_url: str | None = None
) -> list[Account]:
    """Every account of the organization the credentials' account manages or belongs to
    (``ListAccounts``, then each account's tags)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(profile_name=profile)
        client = session.client("organizations", endpoint_url=endpoint_url)
        out = []
        for page in client.get_paginator("list_accounts").paginate():
            for a in page.get("Accounts", []):
                tags = _org_tags(client, a["Id"])
                out.append(
                    Account(
                        a["Id"],
                        a.get("Name") or a["Id"],
                        a.get("Email"),
                        a.get("Status") or a.get("State"),
                        tags,
                        source="organizations",
                    )
                )
        return out
    except (BotoCoreError, ClientError) as e:
        raise EnrichError(
            f"AWS Organizations: {_first_line(e)}",
            hint="use the management account or a delegated administrator (--profile)",
        ) from None


def _org_tags(client: Any, account_id: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    tags: dict[str, str] = {}
    try:
        for page in client.get_paginator("list_tags_for_resource").paginate(ResourceId=account_id):
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    except ClientError as e:  # tags are a nicety: an account without them still has a name
        log.warning("tags of account %s not read: %s", account_id, _first_line(e))
    return tags


def _first_line(e: BaseException) -> str:
    return (str(e).strip() or type(e).__name__).splitlines()[0]


def name_accounts(
    lake: Any,
    *,
    file: str | os.PathLike[str] | None,
    organizations: bool,
    profile: str | None,
    replace: bool,
) -> pa.Table:
    """What ``Lake.name_accounts`` does: the accounts of a file or of AWS Organizations merged
    into the lake's side table ``accounts``; returns the table."""
    if (file is None) == (not organizations):
        raise TrailscopeError("give a file or organizations=True (one of the two)")
    listed = load_file(Path(file)) if file is not None else load_organization(profile=profile)
    new = accounts_table(listed)
    return cast(
        pa.Table,
        lake.update_table(
            TABLE, lambda current: merge(current, new, replace=replace), operation="enrich"
        ),
    )
