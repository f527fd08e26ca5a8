"""Sender: posts one signed event to one endpoint, with bounded time and nothing followed.

Only ``http(s)``; redirects are answers, never followed (a 3xx is a failure); every network
wait is bounded by ``timeout``; at most ``EXCERPT_BYTES`` of the answer are read, and only a
short excerpt is kept. Before connecting, the host's addresses are checked: link-local
(cloud metadata), multicast, unspecified and reserved addresses are always refused, private
and loopback ones when ``private_networks`` is ``deny``.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from webhooks.signing import headers as signed_headers

EXCERPT_BYTES = 1024
DRAIN_BYTES = 64 * 1024
"""A short answer is read to its end so the connection can be reused; a longer one is cut."""
USER_AGENT = "live-session-booking-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: float
    error: str | None
    excerpt: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AddressRefused(Exception):
    pass


def check_address(url: str, private_networks: str) -> None:
    """Refuse hosts that resolve to addresses a webhook must never reach."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise AddressRefused(f"cannot resolve {host}: {error.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
            raise AddressRefused(f"{host} resolves to {address}, which webhooks never reach")
        if private_networks == "deny" and (address.is_private or address.is_loopback):
            raise AddressRefused(f"{host} resolves to the private address {address}")


class Sender:
    def __init__(self, timeout: float = 10.0, private_networks: str = "allow") -> None:
        self.private_networks = private_networks
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            trust_env=False,  # no proxies or credentials from the environment
            headers={"user-agent": USER_AGENT, "content-type": "application/json"},
        )

    def send(self, url: str, secrets: list[str], message_id: str, body: bytes, timestamp: int) -> Outcome:
        started = time.perf_counter()
        try:
            check_address(url, self.private_networks)
            request_headers = signed_headers(secrets, message_id, timestamp, body)
            with self.client.stream("POST", url, content=body, headers=request_headers) as response:
                excerpt, size = b"", 0
                for chunk in response.iter_bytes():
                    if len(excerpt) < EXCERPT_BYTES:
                        excerpt += chunk[: EXCERPT_BYTES - len(excerpt)]
                    size += len(chunk)
                    if size > DRAIN_BYTES:
                        break  # a long answer: stop reading (and lose the connection) rather than wait
                status = response.status_code
            error = None if 200 <= status < 300 else _status_error(status)
            return Outcome(status, _since(started), error, excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"))
        except AddressRefused as refused:
            return Outcome(None, _since(started), str(refused), None)
        except httpx.TimeoutException as error:
            return Outcome(None, _since(started), f"timed out ({type(error).__name__})", None)
        except httpx.HTTPError as error:
            return Outcome(None, _since(started), f"{type(error).__name__}: {str(error)[:200]}", None)

    def close(self) -> None:
        self.client.close()


def _status_error(status: int) -> str:
    if 300 <= status < 400:
        return f"answered {status}: redirects are not followed"
    return f"answered {status}"


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
