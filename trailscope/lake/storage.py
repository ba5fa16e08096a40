"""The few file operations the lake needs, for a local folder and for S3.

The lake's safety rests on two primitives: create-if-absent for commit records (so two writers
can never both claim commit N) and a publish step that makes a committed part visible to
readers that glob the folder. Locally these are ``link`` and ``rename``; on S3 they are a
conditional PUT (``If-None-Match: *``) and a server-side copy. Every filesystem call lives here
so the manifest, the writer and compaction never know which one they run on.

Parquet goes through pyarrow's filesystems (ranged reads: the dedup index reads one column of a
part, not the whole object); small metadata objects go through plain calls.
"""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from trailscope.aws import s3_client
from trailscope.errors import LakeError

if TYPE_CHECKING:  # imported when first used: a run's workers start before pyarrow loads
    import pyarrow.fs as pafs

log = logging.getLogger(__name__)
T = TypeVar("T")


class Storage(Protocol):
    """What the lake needs from where it lives. Must pickle: it travels to worker processes."""

    #: for messages and ``lake info``: a folder path or ``s3://bucket/prefix``
    location: str
    #: True when a local folder (DuckDB can read the files directly; the writer lock works)
    is_local: bool

    @property
    def filesystem(self) -> pafs.FileSystem: ...
    def fs_path(self, rel: str) -> str: ...
    def exists(self, rel: str) -> bool: ...
    def read_bytes(self, rel: str) -> bytes: ...
    def create_exclusive(self, rel: str, data: bytes) -> bool: ...
    def write_atomic(self, rel: str, data: bytes) -> None: ...
    def open_input(self, rel: str) -> Any: ...
    def open_output(self, rel: str) -> Any: ...
    def rename(self, src: str, dst: str) -> None: ...
    def delete(self, rel: str) -> None: ...
    def size(self, rel: str) -> int: ...
    def list_dir(self, rel: str, start_after: str | None = None) -> list[str]: ...
    def list_tree(self, rel: str) -> list[str]: ...
    def list_sizes(self, rel: str) -> dict[str, int]: ...
    def age_seconds(self, rel: str) -> float | None: ...
    def version(self, rel: str) -> str | None: ...
    def fsync_tree(self, rels: list[str]) -> None: ...
    def prepare(self) -> None: ...


class LocalStorage:
    """A lake in a local (or mounted) folder."""

    is_local = True

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStorage({self.location!r})"

    @property
    def filesystem(self) -> pafs.FileSystem:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem()

    def path(self, rel: str) -> Path:
        return self.root / rel

    def fs_path(self, rel: str) -> str:
        return str(self.root / rel)

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def read_bytes(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    def open_input(self, rel: str) -> Any:
        """A native Arrow file (no Python file object in Parquet's hot path)."""
        import pyarrow as pa

        try:
            return pa.OSFile(str(self.path(rel)), "rb")
        except FileNotFoundError:
            raise
        except OSError as exc:  # Arrow's "Failed to open local file": keep the usual type
            if not self.path(rel).exists():
                raise FileNotFoundError(str(self.path(rel))) from exc
            raise

    def open_output(self, rel: str) -> Any:
        import pyarrow as pa

        dest = self.path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        return pa.OSFile(str(dest), "wb")

    def _durable_temp(self, rel: str, data: bytes) -> tuple[Path, Path]:
        """``data`` fsynced in a hidden temporary beside ``rel``; returns (temp, final)."""
        final = self.path(rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp, final

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Write ``data`` at ``rel`` only if nothing is there; False if another writer won."""
        tmp, final = self._durable_temp(rel, data)
        try:
            os.link(tmp, final)  # atomic, and fails if the name exists
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)
        return True

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` with ``data`` so readers see the old or the new bytes, never a mix."""
        tmp, final = self._durable_temp(rel, data)
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def rename(self, src: str, dst: str) -> None:
        os.replace(self.path(src), self.path(dst))

    def delete(self, rel: str) -> None:
        self.path(rel).unlink(missing_ok=True)

    def size(self, rel: str) -> int:
        return self.path(rel).stat().st_size

    def age_seconds(self, rel: str) -> float | None:
        try:
            return time.time() - self.path(rel).stat().st_mtime
        except FileNotFoundError:
            return None

    def version(self, rel: str) -> str | None:
        """Changes whenever the file is replaced (write_atomic renames a new file over it);
        None if there is none. One stat, to tell whether a file changed without reading it."""
        try:
            st = self.path(rel).stat()
        except FileNotFoundError:
            return None
        return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"

    def list_dir(self, rel: str, start_after: str | None = None) -> list[str]:
        """Names directly under ``rel`` (empty if it does not exist), sorted; with
        ``start_after``, only names after it."""
        try:
            names = sorted(os.listdir(self.path(rel)))
        except FileNotFoundError:
            return []
        return [n for n in names if start_after is None or n > start_after]

    def list_tree(self, rel: str) -> list[str]:
        """Every file under ``rel``, as paths relative to the lake, sorted."""
        out: list[str] = []
        for folder, _dirs, names in os.walk(self.path(rel)):
            base = Path(folder).relative_to(self.root).as_posix()
            out.extend(f"{base}/{name}" for name in names)
        return sorted(out)

    def list_sizes(self, rel: str) -> dict[str, int]:
        """Every file under ``rel`` with its size in bytes."""
        out = {}
        for name in self.list_tree(rel):
            try:
                out[name] = self.path(name).stat().st_size
            except FileNotFoundError:
                continue  # deleted since it was listed
        return out

    def fsync_tree(self, rels: list[str]) -> None:
        """Make freshly written files and their folders durable before they are committed."""
        dirs = set()
        for rel in rels:
            p = self.path(rel)
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dirs.add(p.parent)
        for d in dirs:
            _fsync_dir(d)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_CREDENTIALS_HINT = (
    "pass --profile NAME, set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
    "(for SSO profiles run `aws sso login` first)"
)
_REJECTED = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)


def _s3_errors(method: Callable[..., T]) -> Callable[..., T]:
    """An S3 lake's failures as one line and a hint (no credentials, no network, a hung or
    wrong endpoint, access denied), never a traceback."""

    @functools.wraps(method)
    def call(self: S3Storage, *args: Any, **kwargs: Any) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(self, *args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise _lake_error(self, exc) from None

    return call


def _lake_error(storage: S3Storage, exc: Exception) -> LakeError:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    where = storage.location
    if isinstance(exc, NoCredentialsError):
        return LakeError(f"no AWS credentials found to read {where}", hint=_CREDENTIALS_HINT)
    if isinstance(exc, ProfileNotFound):  # given by --profile or $AWS_PROFILE
        name = getattr(exc, "kwargs", {}).get("profile") or storage.profile
        return LakeError(
            f"AWS profile not found: {name}",
            hint="check the name in ~/.aws/config, or leave out --profile",
        )
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        return LakeError(
            f"cannot reach S3 for {where}: {exc}",
            hint="check the network and --endpoint-url; wait longer with "
            "TRAILSCOPE_S3_CONNECT_TIMEOUT and TRAILSCOPE_S3_READ_TIMEOUT (seconds)",
        )
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _REJECTED:
            return LakeError(f"AWS rejected the credentials ({code})", hint=_CREDENTIALS_HINT)
        if code == "NoSuchBucket":
            return LakeError(f"no such bucket: {storage.bucket}", hint="check the lake location")
        if code == "AccessDenied" or status == 403:
            return LakeError(
                f"access denied to {where} ({code or status})",
                hint="check --profile and the bucket policy",
            )
    return LakeError(f"S3 failed for {where}: {_describe(exc)}")


class S3Storage:
    """A lake under ``s3://bucket/prefix`` (or an S3-compatible store via ``endpoint_url``).

    S3 has no rename and no lock, so several writers may work at once: commits are claimed with
    a conditional PUT and a loser rebases (see ``trailscope.lake.ingest.commit_batch``).
    """

    is_local = False

    def __init__(
        self,
        uri: str,
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise LakeError(f"bad lake location {uri!r}", hint="write it like s3://bucket/prefix/")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"
        self.profile = profile
        # boto3 reads these itself; pyarrow's filesystem needs them passed.
        self.endpoint_url = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        self.region = region
        self._client: Any = None
        self._fs: pafs.FileSystem | None = None
        self._credentials: Any = None  # botocore's, which renews temporary ones
        self._frozen: Any = None  # what Arrow's filesystem was given

    def __repr__(self) -> str:
        return f"S3Storage({self.location!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Clients hold sockets and locks; each process makes its own from the settings."""
        state = dict(self.__dict__)
        state["_client"] = state["_fs"] = state["_credentials"] = state["_frozen"] = None
        return state

    # -- clients ----------------------------------------------------------------------------

    def _session(self) -> Any:
        import boto3

        return boto3.Session(profile_name=self.profile, region_name=self.region)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client(self.profile, self.endpoint_url, self.region)
        return self._client

    @property
    def filesystem(self) -> pafs.FileSystem:
        """pyarrow's S3 filesystem with the same credentials and endpoint as boto3's client."""
        if self._fs is not None and self.credentials_changed():
            self._fs = None  # temporary credentials renewed: Arrow only knows the old ones
        if self._fs is None:
            import pyarrow.fs as pafs

            from trailscope.aws import timeouts

            session = self._session()
            creds = self._credentials = session.get_credentials()
            connect, read = timeouts()
            options: dict[str, Any] = {
                "region": session.region_name or "us-east-1",
                "connect_timeout": connect,
                "request_timeout": read,
            }
            if creds is not None:
                frozen = self._frozen = creds.get_frozen_credentials()
                options.update(
                    access_key=frozen.access_key,
                    secret_key=frozen.secret_key,
                    session_token=frozen.token,
                )
            if self.endpoint_url:
                scheme, _, host = self.endpoint_url.partition("://")
                options.update(endpoint_override=host.rstrip("/"), scheme=scheme)
            self._fs = pafs.S3FileSystem(**options)
            _release_at_exit(self)
        return self._fs

    def credentials_changed(self) -> bool:
        """Whether the credentials given to Arrow's filesystem were renewed since (temporary
        credentials of a role or SSO expire within hours; a long ``serve`` outlives them).
        Cheap: botocore renews them, if due, only when asked."""
        if self._credentials is None or self._frozen is None:
            return False
        try:
            now = self._credentials.get_frozen_credentials()
        except Exception as exc:
            log.warning("could not renew the AWS credentials: %s", exc)
            return False
        return bool(now.access_key != self._frozen.access_key or now.token != self._frozen.token)

    # -- paths ------------------------------------------------------------------------------

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def fs_path(self, rel: str) -> str:
        return f"{self.bucket}/{self.key(rel)}"

    def prepare(self) -> None:
        """Fail early and clearly when the bucket is missing or not writable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise LakeError(
                f"cannot use {self.location} as a lake: {_describe(exc)}",
                hint="check the bucket name, --profile and --endpoint-url",
            ) from None

    # -- operations -------------------------------------------------------------------------

    @_s3_errors
    def exists(self, rel: str) -> bool:
        return self._head(rel) is not None

    @_s3_errors
    def _head(self, rel: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(rel))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise

    @_s3_errors
    def read_bytes(self, rel: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(rel))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.location + rel) from None
            raise

    def open_input(self, rel: str) -> Any:
        return self.filesystem.open_input_file(self.fs_path(rel))

    def open_output(self, rel: str) -> Any:
        return self.filesystem.open_output_stream(self.fs_path(rel))

    @_s3_errors
    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """A conditional PUT: S3 (and S3-compatible stores that implement it) refuse to
        overwrite, so exactly one writer claims each commit number."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(rel), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (409, 412):  # taken, or a concurrent conditional write in flight
                return False
            raise
        return True

    @_s3_errors
    def write_atomic(self, rel: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data)

    @_s3_errors
    def rename(self, src: str, dst: str) -> None:
        """Copy then delete: idempotent, so a crash between the two is finished by recovery."""
        self.client.copy_object(
            Bucket=self.bucket,
            Key=self.key(dst),
            CopySource={"Bucket": self.bucket, "Key": self.key(src)},
        )
        self.delete(src)

    @_s3_errors
    def delete(self, rel: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(rel))

    @_s3_errors
    def size(self, rel: str) -> int:
        head = self._head(rel)
        if head is None:
            raise FileNotFoundError(self.location + rel)
        return int(head["ContentLength"])

    @_s3_errors
    def age_seconds(self, rel: str) -> float | None:
        head = self._head(rel)
        if head is None:
            return None
        return time.time() - head["LastModified"].timestamp()

    @_s3_errors
    def version(self, rel: str) -> str | None:
        """The object's ETag (one HEAD); None if there is none."""
        head = self._head(rel)
        return None if head is None else str(head["ETag"])

    @_s3_errors
    def list_dir(self, rel: str, start_after: str | None = None) -> list[str]:
        """As for local folders; ``start_after`` is passed to S3, so catching up with a long
        commit log costs one request for what is new, not one per 1000 commits."""
        prefix = self.key(rel.rstrip("/") + "/")
        names: set[str] = set()
        extra = {"StartAfter": prefix + start_after} if start_after else {}
        for page in self._pages(Prefix=prefix, Delimiter="/", **extra):
            names.update(
                p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", ())
            )
            names.update(o["Key"][len(prefix) :] for o in page.get("Contents", ()))
        return sorted(n for n in names if n)

    def list_tree(self, rel: str) -> list[str]:
        """Every object under ``rel``, relative to the lake, sorted: one listing (1,000 keys a
        request), not one per folder."""
        return sorted(self.list_sizes(rel))

    @_s3_errors
    def list_sizes(self, rel: str) -> dict[str, int]:
        """Every object under ``rel`` with its size, from the same one listing."""
        prefix = self.key(rel.rstrip("/") + "/")
        return {
            o["Key"][len(self.prefix) :]: int(o["Size"])
            for page in self._pages(Prefix=prefix)
            for o in page.get("Contents", ())
        }

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, **kwargs)

    def fsync_tree(self, rels: list[str]) -> None:
        """Nothing to do: an object exists durably once its PUT returned."""


_LIVE_S3: weakref.WeakSet[S3Storage] = weakref.WeakSet()
_EXIT_HOOK: list[bool] = []


def _release_at_exit(storage: S3Storage) -> None:
    """pyarrow shuts its AWS SDK down at exit and aborts the process (exit 134) if an S3
    filesystem is still alive then. Our hook is registered after pyarrow's, so it runs first
    (atexit is last-in, first-out) and lets go of every filesystem we made."""
    _LIVE_S3.add(storage)
    if not _EXIT_HOOK:
        atexit.register(_release_all)
        _EXIT_HOOK.append(True)


#: Called at exit before the filesystems are let go: the engines register closing theirs here
#: (an engine holding a filesystem would keep it alive), without the lake importing them.
_BEFORE_RELEASE: list[Callable[[], None]] = []


def before_release(hook: Callable[[], None]) -> None:
    """Run ``hook`` at exit before this module lets go of its S3 filesystems."""
    if hook not in _BEFORE_RELEASE:
        _BEFORE_RELEASE.append(hook)


def _release_all() -> None:
    for hook in _BEFORE_RELEASE:
        hook()
    for storage in list(_LIVE_S3):
        storage._fs = None
    gc.collect()


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response:
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code") or status
        if str(code) == "404":
            return "no such bucket"
        if str(code) == "403":
            return "access denied"
        return f"{code}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def open_storage(
    location: str | os.PathLike[str],
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> LocalStorage | S3Storage:
    """A local folder or ``s3://bucket/prefix``: what ``--lake`` accepts."""
    text = os.fspath(location)
    if text.startswith("s3://"):
        return S3Storage(text, profile=profile, endpoint_url=endpoint_url)
    if "://" in text:
        raise LakeError(
            f"unsupported lake location {text!r}",
            hint="a lake is a local folder or s3://bucket/prefix",
        )
    return LocalStorage(Path(text).expanduser())
