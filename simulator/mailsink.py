"""The demo estate's mail relay: a real SMTP server on loopback that keeps every message it
accepts as an ``.eml`` file, so a demo shows the stewards' digests without a real relay.

    with MailSink(Path("data/demo/mail")) as sink:
        ...  # point settings.smtp at sink.host / sink.port
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (aiosmtpd cannot bind port 0 itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _SaveToFolder:
    """aiosmtpd handler: write each accepted message to ``<folder>/<n>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        recipients = ",".join(envelope.rcpt_tos)
        header = f"X-Envelope-To: {recipients}\r\n".encode()
        (self.folder / f"{self.count:05d}.eml").write_bytes(header + envelope.content)
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on ``host:port`` (a free port when 0) saving mail under ``folder``."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.host = host
        self.port = port or free_port(host)
        self._controller = Controller(_SaveToFolder(folder), hostname=host, port=self.port,
                                      ready_timeout=10)

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._controller.stop()

    def messages(self) -> list[Path]:
        """The saved messages, oldest first."""
        return sorted(self.folder.glob("*.eml"))
