"""The Athena table: DDL that parses, columns that match the files, projection that finds them.

Athena cannot run here, so the DDL is checked the way Athena's own parser would see it
(sqlglot's Hive dialect), its columns against the Parquet files the lake actually wrote (read
with pyarrow, not through the schema module), and the partition projection by filling its
template with every partition of a real lake and comparing with the folders on disk.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from trailscope import Lake
from trailscope.athena.ddl import (
    create_database_ddl,
    create_table_ddl,
    location_template,
    partition_location,
    side_table_ddl,
)
from trailscope.athena.symlinks import manifest_path, read_manifest, write_manifests
from trailscope.errors import TrailscopeError
from trailscope.synth import synth_trail

LAKE_URI = "s3://analytics-bucket/trailscope/"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("athena-ddl")
    synth_trail(root / "trail", events=4000, seed=11, days=4)
    lk = Lake(root / "lake")
    lk.ingest(str(root / "trail"), workers=1)
    return lk


def _days_on_disk(lake: Lake) -> dict[str, list[Path]]:
    """Partition value -> committed Parquet files, from a plain directory listing."""
    out: dict[str, list[Path]] = {}
    for path in sorted(lake.root.rglob("*.parquet")):
        folder = path.parent.name
        assert folder.startswith("event_date=")
        out.setdefault(folder.split("=", 1)[1], []).append(path)
    return out


def _arrow_of(dtype: exp.DataType) -> pa.DataType:
    """A parsed Hive type as Arrow, written independently of trailscope's own mapping."""
    kind = dtype.this
    if kind in (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR):
        return pa.string()
    if kind == exp.DataType.Type.TIMESTAMP:
        return pa.timestamp("us", tz="UTC")
    if kind == exp.DataType.Type.STRUCT:
        return pa.struct([pa.field(c.name, _arrow_of(c.args["kind"])) for c in dtype.expressions])
    if kind == exp.DataType.Type.ARRAY:
        return pa.list_(_arrow_of(dtype.expressions[0]))
    if kind == exp.DataType.Type.MAP:
        key, value = dtype.expressions
        return pa.map_(_arrow_of(key), _arrow_of(value))
    raise AssertionError(f"unexpected type in DDL: {dtype.sql('hive')}")


def _parse(ddl: str) -> exp.Create:
    tree = sqlglot.parse_one(ddl, read="hive")
    assert isinstance(tree, exp.Create) and tree.args["kind"] == "TABLE"
    return tree


def _properties(tree: exp.Create) -> dict[str, str]:
    props = tree.args["properties"].expressions
    out = {}
    for p in props:
        if type(p) is exp.Property:
            out[p.this.this] = p.args["value"].this
    return out


@pytest.mark.parametrize("layout", ["symlink", "parts"])
def test_ddl_parses_and_its_columns_are_the_files_columns(lake: Lake, layout: str) -> None:
    first = min(_days_on_disk(lake))
    ddl = create_table_ddl(LAKE_URI, database="security", first_day=first, layout=layout)
    tree = _parse(ddl)
    table = tree.this.this
    assert (table.db, table.name) == ("security", "cloudtrail")
    columns = [c for c in tree.this.expressions if isinstance(c, exp.ColumnDef)]
    ddl_schema = pa.schema([pa.field(c.name, _arrow_of(c.args["kind"])) for c in columns])
    for path in lake.files():
        file_schema = pq.read_schema(path)
        assert ddl_schema.names == file_schema.names
        assert ddl_schema.types == file_schema.types, path
    partitioned = tree.find(exp.PartitionedByProperty)
    assert [(c.name, c.args["kind"].sql("hive")) for c in partitioned.this.expressions] == [
        ("event_date", "STRING")
    ]


def test_side_tables_get_a_table_of_their_name_over_their_folder(tmp_path: Path) -> None:
    lk = Lake(tmp_path / "lake")
    accounts = pa.table({"account": ["111111111111"], "name": ["prod"], "since": [1]})
    lk.update_table("accounts", lambda _: accounts, operation="accounts")
    table = lk.side_tables(committed=True)["accounts"]
    tree = _parse(
        side_table_ddl(LAKE_URI, database="security", name="accounts", schema=table.schema)
    )
    assert (tree.this.this.db, tree.this.this.name) == ("security", "accounts")
    columns = [(c.name, c.args["kind"].sql("hive")) for c in tree.this.expressions]
    assert columns == [("account", "STRING"), ("name", "STRING"), ("since", "BIGINT")]
    location = tree.find(exp.LocationProperty).this.this
    assert location == LAKE_URI + "tables/accounts/"
    # that folder holds exactly the committed version's file
    files = list((tmp_path / "lake" / "tables" / "accounts").iterdir())
    assert [f.relative_to(tmp_path / "lake").as_posix() for f in files] == [
        lk.state().tables["accounts"].path
    ]
    assert pq.read_schema(files[0]).names == [c for c, _ in columns]


@pytest.mark.parametrize("layout", ["symlink", "parts"])
def test_projection_covers_the_lake_from_its_first_day(lake: Lake, layout: str) -> None:
    days = sorted(_days_on_disk(lake))
    props = _properties(
        _parse(create_table_ddl(LAKE_URI, database="db", first_day=days[0], layout=layout))
    )
    assert props["projection.enabled"] == "true"
    assert props["projection.event_date.type"] == "date"
    assert props["projection.event_date.format"] == "yyyy-MM-dd"
    assert props["projection.event_date.range"] == f"{days[0]},NOW"
    assert props["projection.event_date.interval.unit"] == "DAYS"
    assert "${event_date}" in props["storage.location.template"]
    tree = _parse(create_table_ddl(LAKE_URI, database="db", first_day=days[0], layout=layout))
    location = tree.find(exp.LocationProperty).this.this
    assert props["storage.location.template"] == location + "event_date=${event_date}/"
    file_format = tree.find(exp.FileFormatProperty).this
    if layout == "symlink":
        assert file_format.args["input_format"].this.endswith(".SymlinkTextInputFormat")
        assert tree.find(exp.RowFormatSerdeProperty).this.this.endswith(".ParquetHiveSerDe")
    else:
        assert file_format.sql("hive") == "PARQUET"


def test_parts_template_is_the_folder_of_every_real_partition(lake: Lake) -> None:
    template = location_template(LAKE_URI, "parts")
    for day, files in _days_on_disk(lake).items():
        folder = partition_location(template, day)
        assert folder.startswith(LAKE_URI)
        local = lake.root / folder[len(LAKE_URI) :]
        assert {p.parent for p in files} == {local}


def test_symlink_manifests_list_exactly_the_live_files(lake: Lake, tmp_path: Path) -> None:
    """The template leads to a manifest naming the partition's files, and only those, also
    after a compaction replaced files."""
    template = location_template(LAKE_URI, "symlink")

    def check() -> None:
        write_manifests(lake.storage, lake.state(), LAKE_URI)
        on_disk = _days_on_disk(lake)
        assert on_disk
        for day, files in on_disk.items():
            folder = partition_location(template, day)
            manifest = lake.root / folder[len(LAKE_URI) :] / "symlink.txt"
            assert manifest_path(day) == str(manifest.relative_to(lake.root))
            listed = read_manifest(manifest.read_text())
            expected = sorted(LAKE_URI + str(p.relative_to(lake.root)) for p in files)
            assert sorted(listed) == expected

    check()
    lake.ingest(str(lake.root.parent / "trail"), workers=1)  # nothing new: no change
    before = {p.name for p in lake.root.rglob("*.parquet")}
    synth_trail(tmp_path / "more", events=1500, seed=12, days=2)
    lake.ingest(str(tmp_path / "more"), workers=1)
    lake.compact(full=True)
    after = {p.name for p in lake.root.rglob("*.parquet")}
    assert before - after, "the compaction should have replaced files"
    check()


def test_bad_names_and_locations_are_refused_with_a_reason() -> None:
    with pytest.raises(TrailscopeError) as bad_db:
        create_database_ddl("Security-Logs")
    assert str(bad_db.value) == (
        "invalid database name 'Security-Logs'\n"
        "hint: use lowercase letters, digits and underscores (Athena lowercases names)"
    )
    with pytest.raises(TrailscopeError) as local:
        create_table_ddl("/data/lake", database="db", first_day="2024-07-01")
    assert str(local.value) == (
        "Athena reads tables from S3, not from '/data/lake'\n"
        "hint: give the lake's S3 location, e.g. --location s3://bucket/prefix/"
    )
    assert create_database_ddl("security") == "CREATE DATABASE IF NOT EXISTS `security`"
