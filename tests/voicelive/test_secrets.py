"""No secret ever reaches a log line or an error text, even through the SDK's handshake exception repr."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.ai.voicelive.aio import connect as sdk_connect
from azure.core.credentials import AzureKeyCredential

from voicelive_desktop.emulator import Emulator
from voicelive_desktop.voicelive.auth import AuthMethod
from voicelive_desktop.voicelive.credentials import CredentialSpec
from voicelive_desktop.voicelive.errors import ScrubbingFilter, SecretRegistry
from voicelive_desktop.voicelive.events import ErrorRaised


async def test_wrong_key_never_appears_in_logs_or_errors(open_session: Any, caplog: pytest.LogCaptureFixture) -> None:
    secret = "wrong-but-still-secret-KEY-777"
    caplog.set_level(logging.DEBUG)
    session, events = await open_session(key=secret)
    await events.wait_type(ErrorRaised)
    await session.close()
    assert secret not in caplog.text
    assert all(secret not in str(e) for e in events.items)
    assert all(secret not in repr(e) for e in events.items)


async def test_handshake_exception_repr_is_scrubbed_by_the_log_filter(emulator: Emulator) -> None:
    secret = "another-wrong-key-ABC-123456"
    with pytest.raises(VoiceLiveConnectionError) as caught:
        async with sdk_connect(credential=AzureKeyCredential(secret), endpoint=emulator.endpoint, model="m"):
            pass
    # The SDK's own exception carries the request headers, api-key included: this is what we guard against.
    assert secret in repr(caught.value.__cause__)

    registry = SecretRegistry()
    records: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(ScrubbingFilter(registry))  # knows nothing of the key: the header pattern must catch it
    logger = logging.getLogger("test.scrub")
    logger.addHandler(handler)
    try:
        logger.error("connect failed: %r", caught.value.__cause__)
        try:
            raise caught.value
        except VoiceLiveConnectionError:
            logger.exception("with traceback")
    finally:
        logger.removeHandler(handler)
    assert records and all(secret not in line for line in records)
    assert "***" in records[0]


def test_registered_secrets_and_bearer_tokens_are_scrubbed() -> None:
    registry = SecretRegistry()
    registry.add("plain-secret-value")
    text = registry.scrub("key plain-secret-value and Authorization: Bearer eyJhbGciOi.abc.def here")
    assert "plain-secret-value" not in text and "eyJhbGciOi" not in text
    assert "here" in text


def test_credential_spec_repr_hides_the_key() -> None:
    spec = CredentialSpec(AuthMethod.API_KEY, "hidden-key-value")
    assert "hidden-key-value" not in repr(spec) and "hidden-key-value" not in str(spec)
