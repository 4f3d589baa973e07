"""The prediction log's object store: an S3 bucket (any S3-compatible endpoint) that every
replica of the service ships its log files to, and that the monitor reads.

``HOUSING_PREDICTION_LOG_URL=s3://<bucket>/<prefix>`` names it; unset, the log stays in
local files (the embedded default). The endpoint and the credentials come from boto3's
own chain (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, a
profile, a pod's role), never from the URL, so no secret is in a URL, a log line or argv.

Objects are written once and never changed: a replica names each by its host, the
writing process, its sequence and the sha256 of its content (log_shipper.object_name),
so two replicas never write the same key and a restarted replica never overwrites an
earlier object. Every call is bounded (connect and read timeouts, few retries): a store
that is down costs a worker seconds, never a hang.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from housing.connections import StoreError
from housing.io import atomic_path

URL_VARIABLE = "HOUSING_PREDICTION_LOG_URL"
# S3's bucket naming rules (3-63 lower-case letters, digits, dots and hyphens), and a
# prefix of plain path segments.
_SEGMENT = r"(?!\.+(?:/|$))[A-Za-z0-9._-]+"  # no "." or ".." segment
_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
                  rf"(?:/(?P<prefix>(?:{_SEGMENT}/)*{_SEGMENT})?/?)?")
# A key under the prefix that a replica wrote: one file name, as log_shipper.object_name
# makes it.
OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.jsonl")
CONNECT_SECONDS = 3
READ_SECONDS = 20


class LogStoreError(StoreError):
    """The log store is misconfigured or unreachable; the message names it (no secret)."""


@dataclass(frozen=True)
class LogStore:
    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> LogStore:
        match = _URL.fullmatch(url.strip())
        if not match:
            raise ValueError(f"{URL_VARIABLE}: {url[:100]!r} is not s3://<bucket>[/<prefix>] "
                             "(a bucket of 3-63 lower-case letters, digits, . and -, and a "
                             "prefix of letters, digits, ._- and /, no . or .. part)")
        return cls(match["bucket"], (match["prefix"] or "").strip("/"))

    @classmethod
    def from_env(cls) -> LogStore | None:
        from housing.environment import tool_environment

        url = tool_environment().housing_prediction_log_url.strip()
        return cls.parse(url) if url else None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def client(self):
        """A boto3 S3 client with bounded timeouts and retries (its own session: a worker
        thread does not share one)."""
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=CONNECT_SECONDS, read_timeout=READ_SECONDS,
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"})
        return boto3.session.Session().client("s3", config=config)

    def put_file(self, client, path: Path, name: str) -> None:
        """Upload one closed log file as the object ``name`` (one PUT, or a multipart
        upload for a large file: either the whole object appears or none does)."""
        try:
            client.upload_file(str(path), self.bucket, self.key(name))
        except Exception as err:  # noqa: BLE001 (boto3 raises many kinds; all mean "not yet")
            raise LogStoreError(f"{self.url}: cannot store {name}: {describe(err)}") from None

    def list_objects(self, client) -> dict[str, str]:
        """{object name: ETag} of every log object under the prefix: keys and ETags only,
        nothing downloaded. Keys that are no log file name are left out."""
        found: dict[str, str] = {}
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=start)
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(start):]
                    if OBJECT_NAME.fullmatch(name):
                        found[name] = item["ETag"].strip('"')
        except Exception as err:  # noqa: BLE001
            raise LogStoreError(f"{self.url}: cannot list the log: {describe(err)}") from None
        return found

    def get_file(self, client, name: str, path: Path) -> None:
        """Download one object to ``path`` atomically (a temporary name, then rename)."""
        if not OBJECT_NAME.fullmatch(name):
            raise LogStoreError(f"{self.url}: {name[:100]!r} is no log object name")
        try:
            with atomic_path(path) as part:
                client.download_file(self.bucket, self.key(name), str(part))
        except Exception as err:  # noqa: BLE001
            raise LogStoreError(f"{self.url}: cannot read {name}: {describe(err)}") from None


def describe(err: BaseException) -> str:
    """An S3 error in one line, without the request's signature or credentials."""
    response = getattr(err, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
