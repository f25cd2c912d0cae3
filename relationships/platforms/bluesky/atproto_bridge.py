"""The atproto SDK's HTTP layer, routed through the project's one HTTP seam.

``atproto.Client`` sends with its own httpx client, which follows redirects
and connects anywhere. :class:`SessionRequest` replaces it with the
project's :class:`~relationships.platforms.http.SafeSession`, so the SDK's
requests get the same address checks (the PDS named in a session's DID
document included), pacing and retries as every other call, while the SDK
keeps its own error classes for the answers it must understand (400
``ExpiredToken``, 401).
"""

from __future__ import annotations

from typing import Any

import requests
from atproto_client import exceptions as at_exc
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_or_create, load_json
from atproto_client.request import RequestBase, Response

from relationships.platforms.errors import MalformedResponse
from relationships.platforms.http import SafeSession


def _query(params: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """XRPC query parameters: lists repeat the key, booleans are lower-case."""
    if not params:
        return None
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is None:
                continue
            pairs.append((key, ("true" if item else "false") if isinstance(item, bool) else str(item)))
    return pairs


def _answer(response: requests.Response) -> Response:
    headers = {k.lower(): v for k, v in response.headers.items()}
    if 200 <= response.status_code < 300:
        content: Any = response.content
        if "application/json" in headers.get("content-type", "").lower():
            try:
                content = response.json()
            except ValueError as e:
                raise MalformedResponse(
                    f"{response.request.path_url.split('?')[0]} answered invalid JSON", status=response.status_code
                ) from e
        return Response(success=True, status_code=response.status_code, content=content, headers=headers)

    error = Response(success=False, status_code=response.status_code, content=response.content, headers=headers)
    body = load_json(response.content, strict=False)
    if body:
        error.content = get_or_create(body, XrpcError, strict=False)
    # The same mapping as atproto_client.request._handle_response.
    if response.status_code in (401, 403):
        raise at_exc.UnauthorizedError(error)
    if response.status_code == 400:
        raise at_exc.BadRequestError(error)
    if response.status_code == 429:
        raise at_exc.RateLimitExceededError(error)
    if response.status_code in (409, 413, 502):
        raise at_exc.NetworkError(error)
    raise at_exc.RequestException(error)


class SessionRequest(RequestBase):
    """An atproto ``Request`` that sends through a :class:`SafeSession`."""

    def __init__(self, http: SafeSession):
        super().__init__()
        self._http = http

    def _new_instance(self) -> SessionRequest:
        return type(self)(self._http)

    def _send(self, method: str, url: str, params=None, data=None, content=None, headers=None, **_: Any) -> Response:
        body = content if content is not None else data
        response = self._http.request(
            method, url, params=_query(params), data=body, headers=self.get_headers(headers)
        )
        return _answer(response)

    def get(self, *args: Any, **kwargs: Any) -> Response:
        return self._send("GET", *args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Response:
        return self._send("POST", *args, **kwargs)

    def close(self) -> None:
        """The session belongs to the connector, which closes it."""
