"""``/files/``: the files-server protocol of the ClearML SDK, on the API's own port.

What clearml 2.1.12 sends (``clearml/storage/helper.py`` ``_HttpDriver``) when
``CLEARML_FILES_HOST=<url>/files``:

- upload: ``POST /files`` (the files host itself), ``multipart/form-data``, one part per file whose
  name *and* filename are the target path with a leading slash, e.g.
  ``/<project>/<task name>.<task id>/artifacts/<key>/<file>`` (unquoted). A part is stored at
  ``<URL path after /files>/<part name>``. The answer is a JSON list of the stored paths; the SDK
  only checks for 200.
- download: ``GET /files/<percent-quoted path>``; ``HEAD`` the same (``exists_file``).
- delete: ``DELETE /files/<path>``.
- every request carries ``Authorization: Bearer <the API session token>``; HTTP Basic with an
  access key and secret works too. Anything else answers 401.

Paths are relative to the caller's company area (``skiff.ops.files``): the URIs the SDK registers
look the same for every company, but another company's files are never reachable (404).

Errors answer ``{"error": message}`` with 400 (unsafe path, malformed upload), 401, 404, 405, 409.
The file-system rules are in ``skiff.ops.files``, the path rules in ``skiff.domain.files``.
Uploads are parsed by Starlette's multipart parser, which spools each part to a temporary file
(in memory only up to 1 MiB), so large files never sit in memory.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from skiff.api.authn import authenticate
from skiff.api.context import AppContext
from skiff.domain.errors import ApiError
from skiff.domain.files import UnsafePath, relative_parts
from skiff.ops.files import FileStore, FileStoreError

log = logging.getLogger("skiff.api.files")

PREFIX = "/files"
MAX_PARTS = 1000


def is_files_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class FilesEndpoint:
    """An ASGI app for paths under ``/files``; the dispatcher hands them over unchanged."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.store = FileStore(app.settings.files_root)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        method = request.method
        if method not in ("GET", "HEAD", "POST", "DELETE"):
            return _error(405, f"method {method} is not allowed")
        try:
            caller = await anyio.to_thread.run_sync(authenticate, self.app, request.headers.get("authorization"))
        except ApiError as exc:
            return _error(401, exc.message)
        # scope["path"] is already percent-decoded: %2e%2e and %00 arrive as .. and NUL
        rest = request.scope["path"][len(PREFIX) :]
        rest = rest[1:] if rest.startswith("/") else rest
        try:
            if method == "POST":
                return await self._upload(request, caller.company, rest)
            parts = relative_parts(rest)
            if method == "DELETE":
                deleted = await anyio.to_thread.run_sync(self.store.delete, caller.company, parts)
                return JSONResponse({"deleted": deleted})
            path = await anyio.to_thread.run_sync(self.store.locate, caller.company, parts)
            return FileResponse(path)
        except UnsafePath as exc:
            return _error(400, str(exc))
        except FileStoreError as exc:
            return _error(exc.status, exc.message)

    async def _upload(self, request: Request, company: str, rest: str) -> Response:
        directory = relative_parts(rest[:-1] if rest.endswith("/") else rest, allow_empty=True)
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return _error(400, "uploads must be multipart/form-data")
        try:
            form = await request.form(max_files=MAX_PARTS, max_fields=MAX_PARTS)
        except HTTPException as exc:
            return _error(400, f"malformed upload: {exc.detail}")
        try:
            targets = []
            for name, value in form.multi_items():
                # the SDK's encoder (urllib3) writes '"' in part names as %22 and leaves '%' as is
                if isinstance(value, UploadFile):
                    label = (name or value.filename or "").replace("%22", '"')
                    targets.append((directory + relative_parts(label, leading_slash=True), value.file))
                else:
                    label = name.replace("%22", '"')
                    targets.append((directory + relative_parts(label, leading_slash=True), io.BytesIO(value.encode())))
            if not targets:
                return _error(400, "no file in the upload")
            saved = []
            for parts, source in targets:
                saved.append(await anyio.to_thread.run_sync(self.store.save, company, parts, source))
            return JSONResponse(saved)
        finally:
            await form.close()
