"""The handshake as the service sees it: path, query per mode, and the credential headers."""

from __future__ import annotations

from typing import Any

import pytest
from azure.ai.voicelive.aio import connect as sdk_connect

from tests.helpers import API_KEY, EventLog, FakeEntra, key_credential
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.voicelive.config import SessionConfig
from voicelive_desktop.voicelive.credentials import ExpiryTrackingCredential
from voicelive_desktop.voicelive.errors import FOUNDRY_USER_ROLE_ID
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState, ErrorCategory, ErrorRaised
from voicelive_desktop.voicelive.modes import Mode, Target
from voicelive_desktop.voicelive.session import VoiceLiveSession


@pytest.mark.parametrize(
    ("mode", "deployment", "profile"),
    [
        (Mode.MANAGED, "gpt-realtime", None),
        (Mode.BYOM_REALTIME, "my-realtime-ptu", "byom-azure-openai-realtime"),
        (Mode.BYOM_CHAT_COMPLETION, "grok-3", "byom-azure-openai-chat-completion"),
    ],
)
async def test_each_mode_sends_profile_and_model_in_the_query(
    open_session: Any, emulator: Emulator, mode: Mode, deployment: str, profile: str | None
) -> None:
    session, _events = await open_session(mode, deployment)
    assert session.state is ConnState.CONNECTED
    record = emulator.last()
    assert record.path == "/voice-live/realtime"
    assert record.query["model"] == deployment
    assert record.query.get("profile") == profile
    assert record.query["api-version"]
    assert record.headers["api-key"] == API_KEY
    assert "Authorization" not in record.headers


async def test_api_version_is_selectable(open_session: Any, emulator: Emulator) -> None:
    target = Target(emulator.endpoint, Mode.MANAGED, "gpt-4.1", api_version="2025-10-01")
    session = VoiceLiveSession(target, key_credential(), SessionConfig())
    EventLog(session.events())
    assert await session.connect()
    await session.close()
    assert emulator.last().query["api-version"] == "2025-10-01"


async def test_entra_token_goes_as_bearer_and_its_expiry_is_known(start_emulator: Any) -> None:
    token = "eyJ0eXAiOiJKV1Qi.fake-entra-token.sig"
    emulator = await start_emulator(api_key=None, bearer_tokens=frozenset({token}))
    inner = FakeEntra(token, lifetime_s=3600)
    credential = ExpiryTrackingCredential(inner)
    session = VoiceLiveSession(
        Target(emulator.endpoint, Mode.BYOM_CHAT_COMPLETION, "gpt-4.1"), credential, SessionConfig()
    )
    EventLog(session.events())
    assert await session.connect()
    assert emulator.last().headers["Authorization"] == f"Bearer {token}"
    assert "api-key" not in emulator.last().headers
    assert inner.scopes == ("https://ai.azure.com/.default",)
    left = session.token_seconds_left()
    assert left is not None and 3500 < left <= 3600
    await session.close()


async def test_entra_403_in_chat_completion_mode_explains_the_managed_identity_role(start_emulator: Any) -> None:
    emulator = await start_emulator(api_key=None, bearer_tokens=frozenset())
    emulator.options.refuse_with = (403, "PermissionDenied")
    credential = ExpiryTrackingCredential(FakeEntra("some-token-value", 3600))
    session = VoiceLiveSession(
        Target(emulator.endpoint, Mode.BYOM_CHAT_COMPLETION, "gpt-4.1"), credential, SessionConfig()
    )
    events = EventLog(session.events())
    assert not await session.connect()
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.FORBIDDEN
    assert "Foundry User (formerly Azure AI User)" in error.message
    assert "az role assignment create" in error.message and FOUNDRY_USER_ROLE_ID in error.message
    assert "signed-in user" in error.message
    assert "managed identity" in error.message
    await session.close()


async def test_wrong_key_is_a_clear_credentials_error(open_session: Any) -> None:
    session, events = await open_session(key="wrong-key-123456")
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.BAD_CREDENTIALS
    assert "401" in error.message and "API key" in error.message
    assert "wrong-key-123456" not in error.message
    assert session.state is ConnState.FAILED
    assert events.of(ConnectionChanged)[-1].state is ConnState.FAILED


async def test_unknown_deployment_names_the_deployment(start_emulator: Any) -> None:
    emulator = await start_emulator(api_key=API_KEY, deployments=frozenset({"gpt-4.1"}))
    cred = key_credential()
    session = VoiceLiveSession(Target(emulator.endpoint, Mode.BYOM_REALTIME, "gtp-4.1-typo"), cred, SessionConfig())
    events = EventLog(session.events())
    assert not await session.connect()
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.DEPLOYMENT_NOT_FOUND
    assert "gtp-4.1-typo" in error.message
    assert "DeploymentNotFound" in error.message
    await session.close()


async def test_unknown_profile_is_refused_at_the_handshake(emulator: Emulator) -> None:
    def bogus_profile(**kwargs: Any) -> Any:
        return sdk_connect(**{**kwargs, "query": {"profile": "byom-bogus"}})

    cred = key_credential()
    session = VoiceLiveSession(
        Target(emulator.endpoint, Mode.BYOM_REALTIME, "gpt-4.1"),
        cred,
        SessionConfig(),
        connector=bogus_profile,
    )
    events = EventLog(session.events())
    assert not await session.connect()
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.REFUSED
    assert "400" in error.message and "InvalidProfile" in error.message and "mode" in error.message
    assert emulator.connections == []
    await session.close()


async def test_unreachable_endpoint_says_so(open_session: Any) -> None:
    _session, events = await open_session(endpoint="http://127.0.0.1:9")
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.UNREACHABLE
    assert "127.0.0.1:9" in error.message


def test_profiles_parse_and_reject_unknown_ones() -> None:
    assert Mode.from_profile(None) is Mode.MANAGED
    assert Mode.from_profile("byom-azure-openai-chat-completion") is Mode.BYOM_CHAT_COMPLETION
    with pytest.raises(ValueError, match="byom-azure-openai-realtime"):
        Mode.from_profile("byom-openai")
    with pytest.raises(ValueError, match="deployment name is empty"):
        Target("https://x.cognitiveservices.azure.com", Mode.MANAGED, "  ")
    assert Target("https://res1.cognitiveservices.azure.com", Mode.BYOM_REALTIME, "d1").describe() == (
        "res1 \u00b7 BYOM realtime \u00b7 d1"
    )
    assert Target("http://127.0.0.1:8765", Mode.MANAGED, "gpt-4.1").resource == "this computer"
