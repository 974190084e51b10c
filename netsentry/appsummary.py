"""Application-layer summary: HTTP hosts and URIs, DNS names and rcodes, TLS SNIs and JA4s.

Same memory discipline as :mod:`netsentry.summary`: every table is a bounded
:class:`TopTable`, so a capture with millions of distinct names stays flat.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from netsentry.protocols.base import AppEvent
from netsentry.summary import TopTable

MAX_KEYS = 20_000


class AppSummary:
    """Counts of what the application decoders saw."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.http_hosts = TopTable(max_keys)
        self.http_urls = TopTable(max_keys)
        self.dns_names = TopTable(max_keys)
        self.dns_rcodes: Counter[str] = Counter()
        self.tls_snis = TopTable(max_keys)
        self.tls_ja4s = TopTable(max_keys)
        self.events: Counter[str] = Counter()
        self.flows: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()

    def add(self, event: AppEvent) -> None:
        """Count one application event."""
        proto = event.proto
        self.events[proto] += 1
        record = event.record
        if proto == "http":
            if event.direction == 0:
                host = record.get("hostname")
                if host:
                    self.http_hosts.add(host, 0)
                url = record.get("url")
                if url:
                    self.http_urls.add(url[:200], 0)
        elif proto == "dns":
            if record.get("type") == "request":
                for query in record.get("queries") or ():
                    self.dns_names.add(query.get("rrname", ""), 0)
            else:
                rcode = record.get("rcode")
                if rcode:
                    self.dns_rcodes[rcode] += 1
        elif proto == "tls":
            sni = record.get("sni")
            if sni:
                self.tls_snis.add(sni, 0)
            ja4 = record.get("ja4")
            if ja4:
                self.tls_ja4s.add(ja4, 0)

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        """JSON-ready summary."""

        def rows(table: TopTable, key: str) -> list[dict[str, Any]]:
            return [{key: k, "count": n} for k, n, _ in table.top(top, by="packets")]

        return {
            "flows_by_protocol": dict(self.flows.most_common()),
            "events": dict(self.events.most_common()),
            "http_top_hosts": rows(self.http_hosts, "host"),
            "http_top_urls": rows(self.http_urls, "url"),
            "dns_top_names": rows(self.dns_names, "rrname"),
            "dns_rcodes": dict(self.dns_rcodes.most_common()),
            "tls_top_snis": rows(self.tls_snis, "sni"),
            "tls_top_ja4": rows(self.tls_ja4s, "ja4"),
            "decoder_anomalies": dict(self.anomalies.most_common()),
        }
