"""The one guard in front of every URL the tool fetches because someone outside gave it:
Dynamic Registration's configuration URL and the alerts' webhooks.

A URL is refused unless its scheme is allowed (https only in production), its host matches
the allowed names (``*.`` wildcards), and every address the
host resolves to is public. A private, loopback or link-local address (the tool's own
network, a cloud's metadata service) is fetched only when an operator names its host exactly.
Callers also refuse redirects, bound the time and size of the answer, and ignore what they
do not need of it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit


class UrlRefused(Exception):
    """A URL the tool will not fetch; ``reason`` says why in a plain sentence."""

    # Why: the URL's form ("scheme"), a host or address outside what is allowed
    # ("not_allowed"), or a host name that does not resolve ("unknown_host").
    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


def check(
    url: str, allowed_hosts: Sequence[str], *, https_only: bool, empty_allows_any: bool = False
) -> str:
    """Refuse a URL the tool must not fetch; return its host. With ``empty_allows_any``, an
    empty ``allowed_hosts`` allows any host (whose addresses are public)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    schemes = ("https",) if https_only else ("https", "http")
    if parts.scheme not in schemes or not host:
        raise UrlRefused(
            "https is required" if https_only else "an http(s) URL is required", "scheme"
        )
    patterns = [p.lower() for p in allowed_hosts]
    if (patterns or not empty_allows_any) and not any(
        fnmatch.fnmatchcase(host, pattern) for pattern in patterns
    ):
        raise UrlRefused(f"the host {host} is not allowed", "not_allowed")
    if host in patterns:
        return host  # named exactly by an operator: any address, loopback included
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)}
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(f"the host {host} could not be found", "unknown_host") from exc
    for address in addresses:
        if not ipaddress.ip_address(str(address).split("%")[0]).is_global:
            raise UrlRefused(
                f"the host {host} is on a private, loopback or link-local address",
                "not_allowed",
            )
    return host
