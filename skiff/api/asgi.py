"""The ASGI application: one dispatcher for every ``/[vX.Y/]service.action`` path.

Decoding happens on the event loop; authentication, validation and the handler run in one worker
thread (handlers are synchronous and each use case is one database transaction). An endpoint that
declares its transaction (``Endpoint.transaction``) has its credential checked inside it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import traceback
from typing import Any

from pydantic import BaseModel

from skiff.api import authn, envelope, transport
from skiff.api.access_log import AccessLog
from skiff.api.call_threads import CallThreads
from skiff.api.context import AppContext, Call
from skiff.api.files import FilesEndpoint, is_files_path
from skiff.api.openapi import openapi_document
from skiff.api.registry import Endpoint
from skiff.api.validation import check_response, validate
from skiff.domain.errors import ApiError, error, format_message
from skiff.domain.identity import Identity
from skiff.domain.versions import Version
from skiff.jobs.runner import JobRunner
from skiff.ops import auth

log = logging.getLogger("skiff.api")

_JSON_HEADERS = [(b"content-type", b"application/json")]


class _Incoming:
    __slots__ = ("path", "query", "headers", "body", "client", "too_large")

    def __init__(self, path: str, query: str, headers: dict[str, str], body: bytes, client: str | None, too_large: bool) -> None:
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.client = client
        self.too_large = too_large


class SkiffAPI:
    def __init__(self, app: AppContext) -> None:
        self.app = app
        self._calls: CallThreads | None = None
        self._openapi: bytes | None = None
        self._files = FilesEndpoint(app)
        #: None when the settings turn the access log off
        self._access_log = AccessLog() if app.settings.access_log else None

    # ASGI entry --------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"]
        if method == "OPTIONS":
            await self._send(scope, send, 200, b"", [])
            return
        if path == "/openapi.json":
            if self._openapi is None:
                self._openapi = envelope.dumps(openapi_document(self.app.registry))
            await self._send(scope, send, 200, self._openapi, _JSON_HEADERS)
            return
        if is_files_path(path):  # the SDK's files server (skiff.api.files): uploads stream, no body limit
            await self._files(scope, receive, self._logging(scope, send))
            return
        if "content-encoding" in headers:
            await self._send(scope, send, 415, b"Content encoding is not supported", [(b"content-type", b"text/plain")])
            return
        body, too_large = await self._read_body(receive, headers)
        client = scope.get("client")
        incoming = _Incoming(
            path,
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
            client[0] if client else None,
            too_large,
        )
        if self._calls is None:
            self._calls = CallThreads(self.app.settings.threads)
        # a cancelled request (server shutdown) stops waiting at once; its call still runs to the
        # end of its transaction in the worker
        status, payload = await self._calls.run(asyncio.get_running_loop(), self.process, incoming)
        await self._send(scope, send, status, payload, _JSON_HEADERS)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        jobs = JobRunner(self.app.db, self.app.settings)  # background jobs (skiff.jobs)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.app.db.start_checkpoints()
                jobs.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await jobs.stop()
                if self._calls is not None:
                    self._calls.close()
                    self._calls = None
                self.app.db.dispose()
                if self._access_log is not None:
                    self._access_log.flush()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Any, headers: dict[str, str]) -> tuple[bytes, bool]:
        limit = self.app.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return b"", True
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks), False

    async def _send(self, scope: dict[str, Any], send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        if self._access_log is not None:
            self._access_log.add(scope, status)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _logging(self, scope: dict[str, Any], send: Any) -> Any:
        """``send`` for a response not sent by ``_send``: the access log learns its status."""
        access_log = self._access_log
        if access_log is None:
            return send

        async def logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                access_log.add(scope, message["status"])
            await send(message)

        return logged

    # one call, in a worker thread ---------------------------------------------------------------
    def process(self, incoming: _Incoming) -> tuple[int, bytes]:
        call_id = f"{random.getrandbits(128):032x}"  # uuid4().hex cost a urandom call and an object
        trx = incoming.headers.get("x-clearml-trx") or incoming.headers.get("x-trains-trx") or call_id
        name = ""
        requested: Version | float = 1.0
        actual: Version | None = None
        try:
            name, version_text = transport.parse_path(incoming.path)
            requested = transport.MAX_VERSION
            version = transport.parse_version(version_text)
            requested = version
            endpoint = self.app.registry.resolve(name, version)
            if endpoint is None:
                raise error_not_found(name, version)
            actual = endpoint.min_version
            call = Call(
                id=call_id,
                endpoint=endpoint,
                version=version,
                app=self.app,
                remote=incoming.client,
                headers=incoming.headers,
            )
            credentials = None
            if endpoint.authorize:
                credentials = authn.credentials(self.app, incoming.headers.get("authorization"))
                if endpoint.transaction is None:
                    self._authorize(call, auth.authenticate(self.app.db, credentials))
            try:
                request = self._request(endpoint, incoming)
            except ApiError:
                if credentials is not None and call.identity is None:  # a 401/403 comes before a 400/413
                    self._authorize(call, auth.authenticate(self.app.db, credentials))
                raise
            if credentials is not None and call.identity is None:
                write = endpoint.transaction == "write"
                with auth.authenticated(self.app.db, credentials, write=write) as (identity, joined):
                    self._authorize(call, identity)
                    call.joined = joined
                    result = endpoint.handler(call, request)
            else:
                result = endpoint.handler(call, request)
            if isinstance(result, BaseModel):
                result = result.model_dump(mode="python")
            elif result is None:
                result = {}
            if self.app.settings.validate_responses:
                check_response(endpoint.response, result, name)
            return envelope.render(
                call_id=call_id, trx=trx, endpoint=name, requested=requested, actual=actual, data=result
            )
        except ApiError as exc:
            return envelope.render(
                call_id=call_id, trx=trx, endpoint=name, requested=requested, actual=actual, err=exc
            )
        except Exception as exc:  # a bug: answer 500 (never another 5xx; clients retry those forever)
            log.exception("%s failed (call %s, pid %s)", name or incoming.path, call_id, os.getpid())
            err = ApiError(500, 0, format_message("general server error", type(exc).__name__))
            stack = traceback.format_exc() if self.app.settings.return_stack else None
            return envelope.render(
                call_id=call_id, trx=trx, endpoint=name, requested=requested, actual=actual, err=err, stack=stack
            )

    def _authorize(self, call: Call, identity: Identity) -> None:
        if call.endpoint.admin_only and not identity.is_admin:
            raise error("role_not_allowed", "admin only")
        call.identity = identity

    def _request(self, endpoint: Endpoint, incoming: _Incoming) -> Any:
        """The validated request: a model, or for batch endpoints a list of items."""
        if incoming.too_large:
            raise error("request_too_large", limit=self.app.settings.max_body_bytes)
        data = transport.parse_body(incoming.body, incoming.headers.get("content-type", ""))
        if incoming.query:
            params = transport.parse_params(incoming.query)
            if isinstance(data, dict):
                data.update(params)
        if transport.too_deep(data):
            raise error("validation_error", f"data nested deeper than {transport.MAX_DEPTH} levels")
        if (
            not endpoint.raw_items
            and transport.may_contain_nul(incoming.body, incoming.query)
            and transport.contains_nul(data)
        ):
            raise error("data_validation_error", "NUL characters are not supported in strings")
        if endpoint.batch:
            items = data if isinstance(data, list) else ([data] if data else [])
            return items if endpoint.raw_items else [validate(endpoint.request, i) for i in items]
        if isinstance(data, list):
            raise error("validation_error", "this endpoint does not accept a batch of items")
        return validate(endpoint.request, data)


def error_not_found(name: str, version: Version) -> ApiError:
    return ApiError(
        404,
        0,
        f"Unable to find endpoint for name {name} and version {version}",
        name="endpoint_not_found",
    )
