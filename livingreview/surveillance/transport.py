"""Network access, injectable: a *transport* is any callable ``transport(request: Request) -> bytes``.

The clients never open a connection themselves; they build a ``Request`` (source, endpoint, base URL, ordered
parameters) and hand it to the transport, which returns the response body. Tests pass a transport that answers from
recorded responses, so no test touches the network.

``HttpTransport`` is the real one: PubMed requests go through Biopython's ``Bio.Entrez`` (NCBI's rate limit of 3
requests/s, or 10/s with an API key, retries of transient errors, ``tool``/``email``/``api_key`` parameters), the
others through ``urllib`` with a timeout. Before any request, ``check(host)`` resolves each host the search needs, so
that without network the command stops at once, before anything is fetched. Every failure to reach a host (DNS
failure, connection refused, timeout) becomes ``NoNetworkError``; an HTTP error status becomes ``SourceError``.

NCBI asks for an e-mail address with every E-utilities request: set ``NCBI_EMAIL`` (and optionally
``NCBI_API_KEY``) in the environment, or pass ``email=``/``api_key=`` to ``HttpTransport``.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode, urlsplit

from livingreview.surveillance.errors import NoNetworkError, SourceError

#: Parameters never recorded (request strings in search_runs.csv and the stored envelopes).
SECRET_PARAMS = ("email", "tool", "api_key")


@dataclass(frozen=True)
class Request:
    """One HTTP GET: ``url`` is the endpoint without parameters; ``params`` keep their order."""

    source: str
    endpoint: str
    url: str
    params: tuple[tuple[str, str], ...]

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url

    def recorded_params(self) -> list[list[str]]:
        return [[k, v] for k, v in self.params if k not in SECRET_PARAMS]

    def as_url(self) -> str:
        """The URL with its parameters (secrets removed): what search_runs.csv records."""
        return self.url + "?" + urlencode([(k, v) for k, v in self.recorded_params()])


Transport = Callable[[Request], bytes]


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    text = str(inner if inner is not None else exc) or type(exc).__name__
    return " ".join(text.split())


class HttpTransport:
    """The real network. ``timeout`` in seconds applies to every request."""

    def __init__(self, timeout: float = 60.0, email: str | None = None, api_key: str | None = None,
                 user_agent: str = "livingreview-surveillance/0.1 (living systematic review literature surveillance)"):
        self.timeout = timeout
        self.email = email if email is not None else os.environ.get("NCBI_EMAIL")
        self.api_key = api_key if api_key is not None else os.environ.get("NCBI_API_KEY")
        self.user_agent = user_agent

    def check(self, host: str) -> None:
        """Resolve ``host``; raise NoNetworkError if it cannot be resolved."""
        try:
            socket.getaddrinfo(host, 443)
        except OSError as exc:
            raise NoNetworkError(host, _reason(exc)) from None

    def __call__(self, request: Request) -> bytes:
        try:
            if request.source == "pubmed":
                return self._entrez(request)
            req = urllib.request.Request(request.url + "?" + urlencode(list(request.params)),
                                         headers={"User-Agent": self.user_agent, "Accept": "application/json"})
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()[:300].decode("utf-8", "replace") if hasattr(exc, "read") else ""
            raise SourceError(request.source, f"HTTP {exc.code} from {request.host} ({' '.join(body.split())})") \
                from None
        except (urllib.error.URLError, OSError) as exc:  # DNS, refused, reset, timeout (socket.timeout is OSError)
            raise NoNetworkError(request.host, _reason(exc)) from None

    def _entrez(self, request: Request) -> bytes:
        from Bio import Entrez  # imported here: `import livingreview.surveillance` stays light

        params = dict(request.params)
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        params.setdefault("tool", "livingreview")
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.timeout)  # Bio.Entrez's urlopen takes no timeout argument
        try:
            handle = getattr(Entrez, request.endpoint)(**params)
            try:
                data = handle.read()
            finally:
                handle.close()
        finally:
            socket.setdefaulttimeout(old)
        return data.encode("utf-8") if isinstance(data, str) else data
