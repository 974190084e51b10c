"""Application-layer decoders, one module per protocol.

Each turns reassembled TCP stream data (or UDP payloads) into :class:`AppEvent`
records whose fields use Suricata's EVE names. See :mod:`netsentry.protocols.base`.
"""
