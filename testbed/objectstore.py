"""An S3-compatible object store on 127.0.0.1, for tests of ``modelfleet fetch s3://...``.

The server is moto's S3 emulator (the S3 REST protocol, ETags, ranged GETs, multipart uploads) under
werkzeug, wrapped so that every request is recorded with its Range header: a test can tell a resumed
transfer from a restarted one. Clients reach it with the usual variables (``environment()``).

    with ObjectStore() as s3:
        s3.put("models", "qwen/config.json", b"{}")
        # AWS_ENDPOINT_URL=s3.url, AWS_ALLOW_HTTP=true, test credentials
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


class ObjectStore:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self.requests.append(
                    Request(
                        environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("HTTP_RANGE")
                    )
                )
            return app(environ, start_response)

        self._server = make_server(
            "127.0.0.1", 0, recording, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="object-store", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def environment(self) -> dict[str, str]:
        """What an S3 client needs to use this store and nothing else (no instance metadata, no AWS)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def __enter__(self) -> ObjectStore:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def client(self) -> Any:
        env = self.environment()
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def put(self, bucket: str, key: str, data: bytes, *, parts: int = 1) -> str:
        """Stores ``data`` (creating the bucket), in one upload or as a multipart upload of ``parts``
        parts (every part but the last at least 5 MiB, as S3 requires); returns the object's ETag."""
        s3 = self.client()
        if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=bucket)
        if parts == 1:
            return str(s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"])
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        size = -(-len(data) // parts)
        done = []
        for number in range(1, parts + 1):
            body = data[(number - 1) * size : number * size]
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)[
                "ETag"
            ]
            done.append({"ETag": etag, "PartNumber": number})
        answer = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
        )
        return str(answer["ETag"])

    def fetched(self, suffix: str) -> list[str | None]:
        """The Range header of each GET of an object whose path ends with ``suffix``, in order."""
        with self._lock:
            return [r.range for r in self.requests if r.method == "GET" and r.path.endswith(suffix)]
