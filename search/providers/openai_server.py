"""A scripted model served as an OpenAI-compatible chat endpoint on 127.0.0.1.

litellm then runs its real hosted-provider path (`openai/<name>` with an api base: the
provider SDK, HTTP, its errors) without the network: for tests and benchmarks. `respond`
is a scripted responder (`respond(messages, params)`, see `search.providers.scripted`).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[list[dict[str, Any]], dict[str, Any]], str]


def chat_handler(
    respond: Responder, api_key: str | None = None, keys: list[str] | None = None
) -> type[BaseHTTPRequestHandler]:
    """A request handler answering `POST .../chat/completions` with `respond`'s text. With
    `api_key`, a request with another key gets OpenAI's 401; `keys` collects every key sent."""

    class Chat(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if keys is not None:
                keys.append(key)
            if api_key is not None and key != api_key:
                self._send(
                    401,
                    {
                        "error": {
                            "message": "Incorrect API key provided",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    },
                )
                return
            text = respond(body.get("messages", []), body)
            words = len(text.split())
            self._send(
                200,
                {
                    "id": "scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", ""),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words},
                },
            )

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass  # a test's or benchmark's output stays its own

    return Chat


@contextlib.contextmanager
def serving(respond: Responder, **options: Any) -> Iterator[str]:
    """Serve `respond` from a thread of this process while the block runs; yields the api
    base (`http://127.0.0.1:<port>/v1`). `options`: those of `chat_handler`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), chat_handler(respond, **options))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def serve_forever(respond: Responder, port: int, **options: Any) -> None:
    """Serve `respond` on 127.0.0.1:`port` until the process ends (for a server process of
    its own, whose work then takes nothing from the measured interpreter)."""
    ThreadingHTTPServer(("127.0.0.1", port), chat_handler(respond, **options)).serve_forever()
