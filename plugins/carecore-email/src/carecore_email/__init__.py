"""carecore's e-mail channel: outbox messages over SMTP.

>>> from carecore_email import EmailChannel
>>> EmailChannel(host="127.0.0.1", port=2525, sender="care@example.org").id
'email'
"""

from __future__ import annotations

from carecore_email.channel import EmailChannel, message_id_for

__all__ = ["EmailChannel", "message_id_for"]
