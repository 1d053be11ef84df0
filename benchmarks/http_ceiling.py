"""The ceiling of the stack: a bare ASGI app answering fixed JSON, under uvicorn set up exactly as
``skiff serve`` runs it (one process, uvicorn's logging at info, skiff's own access log), so
benchmarks/http.py can say how much of the stack's own limit skiff reaches.

    python benchmarks/http_ceiling.py PORT
"""

from __future__ import annotations

import os
import sys

# benchmarks/http.py would shadow the standard library's ``http`` package that uvicorn imports.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import orjson  # noqa: E402
import uvicorn  # noqa: E402

from skiff.api.access_log import AccessLog  # noqa: E402

BODY = orjson.dumps({"meta": {"result_code": 200, "result_msg": "OK"}, "data": {"msg": "ceiling"}})
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
ACCESS_LOG = AccessLog()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                ACCESS_LOG.flush()
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the request body, as any real endpoint must
        more = (await receive()).get("more_body", False)
    ACCESS_LOG.add(scope, 200)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info", access_log=False, timeout_graceful_shutdown=30)
