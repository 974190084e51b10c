"""What the mail protocol decoders share: reading user names out of SASL exchanges.

SMTP ``AUTH``, POP3 ``AUTH`` and IMAP ``AUTHENTICATE`` all carry RFC 4422 SASL
exchanges: base64 lines from the client, answered by server challenges.
:func:`sasl_user` tells which user name, if any, one client response reveals;
:class:`SaslExchange` follows one exchange.

The decoders themselves live in :mod:`netsentry.protocols.smtp` (``SmtpParser``)
and :mod:`netsentry.protocols.pop3imap` (``Pop3Parser``, ``ImapParser``).
"""

from __future__ import annotations

import binascii
import re

from netsentry.protocols.lines import text

_USERNAME = re.compile(rb'username="((?:[^"\\]|\\.)*)"')
_XOAUTH2_USER = re.compile(rb"(?:^|\x01)user=([^\x01]*)")
_GS2_AUTHZID = re.compile(rb"^[nyp][^,]*,a=([^,]*),")


def b64decode(data: bytes) -> bytes | None:
    """Base64 ``data`` decoded, or None when it is not base64 (a ``=`` alone is empty)."""
    data = data.strip()
    if data == b"=":
        return b""
    try:
        return binascii.a2b_base64(data, strict_mode=False)
    except (binascii.Error, ValueError):
        return None


def sasl_user(mech: str, step: int, response: bytes) -> str | None:
    """The user name revealed by the ``step``-th (0-based) client response of ``mech``.

    ``response`` is the client's base64 line (an initial response counts as step
    0). Known: PLAIN (authcid, else authzid), LOGIN (step 0), CRAM-MD5 (first
    word), DIGEST-MD5 (``username="..."``), XOAUTH2 (``user=``) and OAUTHBEARER
    (GS2 ``a=``). Anything else, or undecodable data, gives None.
    """
    if step != 0:
        return None
    raw = b64decode(response)
    if not raw:
        return None
    if mech == "PLAIN":
        parts = raw.split(b"\x00")
        if len(parts) < 3:
            return None
        return text(parts[1] or parts[0])
    if mech == "LOGIN":
        return text(raw)
    if mech == "CRAM-MD5":
        return text(raw.rsplit(b" ", 1)[0]) if b" " in raw else None
    if mech == "DIGEST-MD5":
        m = _USERNAME.search(raw)
        return text(m.group(1).replace(b"\\", b"")) if m else None
    if mech == "XOAUTH2":
        m = _XOAUTH2_USER.search(raw)
        return text(m.group(1)) if m else None
    if mech == "OAUTHBEARER":
        m = _GS2_AUTHZID.search(raw)
        return text(m.group(1)) if m else None
    return None


class SaslExchange:
    """One SASL exchange in progress: the mechanism, the responses seen, the user revealed."""

    __slots__ = ("challenges", "mech", "sent", "user")

    def __init__(self, mech: str) -> None:
        self.mech = mech.upper()
        self.challenges = 0  # server challenges not answered yet (SMTP tracks these)
        self.sent = 0  # client responses so far, the initial response included
        self.user: str | None = None

    def respond(self, line: bytes) -> None:
        """Take one client response (``*`` cancels the exchange and reveals nothing)."""
        if line.strip() != b"*":
            user = sasl_user(self.mech, self.sent, line)
            if user:
                self.user = user
        self.sent += 1
