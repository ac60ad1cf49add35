"""Sending the queued mail over SMTP (plain, STARTTLS or TLS, optional auth): a failure leaves
the mail queued for a later try with backoff; a permanent refusal is recorded with its reason."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from collector.config import SmtpConfig
from collector.notify.html import html_body
from collector.state import Mail, Repository

if TYPE_CHECKING:
    from collector.state.source import Connection

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600


def backoff(attempts: int) -> int:
    """Seconds before the next try after `attempts` failed ones: 30 s doubling, up to 1 h."""
    return int(min(MAX_BACKOFF, 30 * 2 ** min(attempts, 12)))


def message(mail: Mail, sender: str) -> EmailMessage:
    """The RFC 5322 message of a queued mail."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.recipient
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=True)
    # One id per queued row: a resend after a crash is recognisable as the same mail.
    msg["Message-ID"] = make_msgid(idstring=f"vigie-mail-{mail.id}")
    msg.set_content(mail.body)
    msg.add_alternative(html_body(mail.body), subtype="html")
    return msg


class MailSender:
    """Delivers due mail; one instance per thread (`state` gives that thread's connection)."""

    def __init__(
        self,
        state: Callable[[], Connection],
        config: SmtpConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._config = config
        self._clock = clock
        self.last_error = ""

    def _connect(self) -> smtplib.SMTP:
        cfg = self._config
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        server: smtplib.SMTP
        if cfg.security == "tls":
            server = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            server = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                server.starttls(context=context)
        if cfg.username:
            server.login(cfg.username, cfg.password)
        return server

    def send_due(self) -> int:
        """Send what is due; returns how many the server accepted."""
        if not self._config.host:
            return 0
        repo = Repository(self._state())
        now = int(self._clock())
        due = repo.claim_mail(now)
        if not due:
            return 0
        sent = 0
        try:
            server = self._connect()
        except (OSError, smtplib.SMTPException) as err:
            self._fail_all(repo, due, f"cannot reach the SMTP server: {err}", now)
            return 0
        try:
            for index, mail in enumerate(due):
                try:
                    server.send_message(message(mail, self._config.sender))
                except smtplib.SMTPRecipientsRefused as err:
                    code, reason = next(iter(err.recipients.values()))
                    self._refused(repo, mail, code, reason, now)
                    continue
                except smtplib.SMTPResponseException as err:
                    self._refused(repo, mail, err.smtp_code, err.smtp_error, now)
                    continue
                except (OSError, smtplib.SMTPException) as err:
                    self._fail_all(repo, due[index:], f"SMTP connection lost: {err}", now)
                    break
                repo.mail_sent(mail.id, now)
                sent += 1
        finally:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()
        if sent:
            self.last_error = ""
        return sent

    def _refused(
        self, repo: Repository, mail: Mail, code: int, reason: bytes | str, now: int
    ) -> None:
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        error = f"{code} {text}"
        if code >= 500:  # permanent: retrying would not help
            log.error("mail %d to %s refused: %s", mail.id, mail.recipient, error)
            repo.mail_failed(mail, error, None)
        else:
            repo.mail_failed(mail, error, now + backoff(mail.attempts))
        self.last_error = error

    def _fail_all(self, repo: Repository, mails: list[Mail], error: str, now: int) -> None:
        if error != self.last_error:
            log.warning("%s; %d mail(s) kept for later", error, len(mails))
        self.last_error = error
        for mail in mails:
            repo.mail_failed(mail, error, now + backoff(mail.attempts))
