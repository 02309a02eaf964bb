"""An S3-compatible server on 127.0.0.1 for the tests: moto's standalone server, made stricter where it matters.

    python tests/s3server.py --port 9000 [--auth --credentials-file creds.json]

Why not plain ``python -m moto.server``: moto never expires a presigned URL, and Sentinel hands presigned URLs
to clients, so the tests must see an expired one refused as real S3 refuses it (403, ``AccessDenied``,
``Request has expired``); and moto stores an upload whose ``x-amz-checksum-sha256`` does not match its bytes,
which real S3 refuses (400, ``BadDigest``). A small WSGI middleware in front of moto's app does both.

``--auth`` makes moto check credentials (wrong key → 403, wrong secret → SignatureDoesNotMatch). moto only
does that after its first ``INITIAL_NO_AUTH_ACTION_COUNT`` requests, so this program spends those on creating
an IAM user allowed ``s3:*`` and its access key, writes the key pair as JSON to ``--credentials-file``, and only
then starts listening. (moto answers presigned GETs with 500 in this mode: test presigning without ``--auth``.)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

#: The IAM requests --auth spends before credentials are enforced (create user, attach policy, create key).
FREE_ACTIONS = 3


class StrictS3:
    """WSGI middleware: refuse presigned URLs past ``X-Amz-Date + X-Amz-Expires``, and bodies failing their sha256."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "X-Amz-Date" in query and "X-Amz-Expires" in query:
            try:
                signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                expires_in = int(query["X-Amz-Expires"][0])
            except ValueError:
                return self.error(start_response, "AuthorizationQueryParametersError", "Invalid X-Amz-Date or Expires")
            now = datetime.now(UTC)
            if now > signed_at + timedelta(seconds=expires_in):
                return self.error(
                    start_response,
                    "AccessDenied",
                    "Request has expired",
                    f"<X-Amz-Expires>{expires_in}</X-Amz-Expires>"
                    f"<Expires>{(signed_at + timedelta(seconds=expires_in)):%Y-%m-%dT%H:%M:%SZ}</Expires>"
                    f"<ServerTime>{now:%Y-%m-%dT%H:%M:%SZ}</ServerTime>",
                )
        if environ.get("HTTP_X_AMZ_CHECKSUM_SHA256") and "aws-chunked" not in environ.get("HTTP_CONTENT_ENCODING", ""):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            if base64.b64encode(hashlib.sha256(body).digest()).decode() != environ["HTTP_X_AMZ_CHECKSUM_SHA256"]:
                message = "The SHA256 you specified did not match the calculated checksum."
                return self.error(start_response, "BadDigest", message, status="400 Bad Request")
        return self.app(environ, start_response)

    @staticmethod
    def error(start_response: Any, code: str, message: str, extra: str = "", status: str = "403 Forbidden") -> list:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId><HostId>s3server</HostId></Error>"
        ).encode()
        start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]


def create_iam_user(app: Any) -> dict[str, str]:
    """Spend moto's free actions on an IAM user allowed s3:*; returns its access key pair."""
    from xml.etree import ElementTree

    from werkzeug.test import Client

    client = Client(app)
    # moto routes by the signing scope; these requests are among the free ones, so the signature is not checked.
    scope = "AWS4-HMAC-SHA256 Credential=setup/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    calls = [
        {"Action": "CreateUser", "UserName": "sentinel"},
        {"Action": "PutUserPolicy", "UserName": "sentinel", "PolicyName": "s3", "PolicyDocument": json.dumps(policy)},
        {"Action": "CreateAccessKey", "UserName": "sentinel"},
    ]
    assert len(calls) == FREE_ACTIONS
    for form in calls:
        response = client.post("/", data={**form, "Version": "2010-05-08"}, headers={"Authorization": scope})
        if response.status_code != 200:
            raise RuntimeError(f"IAM {form['Action']} failed: {response.status_code} {response.get_data(as_text=True)}")
    root = ElementTree.fromstring(response.get_data())
    found = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in root.iter()}
    return {"access_key_id": found["AccessKeyId"], "secret_access_key": found["SecretAccessKey"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth", action="store_true", help="check credentials (an IAM user is created first)")
    parser.add_argument("--credentials-file", type=Path, help="with --auth: where the IAM user's key pair is written")
    args = parser.parse_args(argv)
    if args.auth and not args.credentials_file:
        parser.error("--auth needs --credentials-file")

    # moto reads these when it is imported.
    os.environ["MOTO_PORT"] = str(args.port)
    if args.auth:
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(FREE_ACTIONS)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    moto_app = DomainDispatcherApplication(create_backend_app)
    if args.auth:
        credentials = create_iam_user(moto_app)
        tmp = args.credentials_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(credentials))
        tmp.replace(args.credentials_file)  # whole or absent: the reader never sees half a file
    run_simple(args.host, args.port, StrictS3(moto_app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    sys.exit(main())
