"""Credentials for the handshake, built from settings and never inside widgets.

Only asynchronous credentials reach the SDK: a synchronous ``get_token`` would block the event loop that
also drives the GUI. The SDK fetches a token once per connection and never refreshes it, so every token
credential here is wrapped to remember when the token it handed out expires.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential

from .auth import AuthMethod
from .errors import SECRETS


class _SyncTokenSource(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken: ...

    def close(self) -> None: ...


class ThreadedTokenCredential(AsyncTokenCredential):
    """Runs a synchronous credential (the browser sign-in has no async twin) off the event loop."""

    def __init__(self, inner: _SyncTokenSource) -> None:
        self._inner = inner

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self._inner.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self._inner.close)

    async def __aexit__(self, *args: object) -> None:
        await self.close()


class ExpiryTrackingCredential(AsyncTokenCredential):
    """Delegates to a token credential and remembers the expiry of the last token, which the SDK ignores."""

    def __init__(self, inner: AsyncTokenCredential) -> None:
        self._inner = inner
        self.expires_on: float | None = None

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = await self._inner.get_token(*scopes, **kwargs)
        SECRETS.add(token.token)
        self.expires_on = float(token.expires_on)
        return token

    def seconds_left(self) -> float | None:
        """Seconds until the token the current connection used runs out, or None before any token."""
        return None if self.expires_on is None else self.expires_on - time.time()

    async def close(self) -> None:
        await self._inner.close()

    async def __aexit__(self, *args: object) -> None:
        await self.close()


Credential = AzureKeyCredential | ExpiryTrackingCredential


@dataclass(frozen=True)
class CredentialSpec:
    """What the user chose; turned into a live credential by :func:`build_credential`."""

    method: AuthMethod
    api_key: str | None = None
    tenant_id: str | None = None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a log line
        return f"CredentialSpec(method={self.method.value}, api_key={'set' if self.api_key else 'unset'})"


class MissingCredentialError(ValueError):
    """No API key is known for the API-key sign-in."""


def build_credential(spec: CredentialSpec) -> Credential:
    """Build the credential the SDK gets. Imports azure.identity lazily: it is slow to load.

    Raises:
        MissingCredentialError: API-key sign-in chosen but no key is known.
    """
    if spec.method is AuthMethod.API_KEY:
        if not spec.api_key:
            raise MissingCredentialError(
                "No API key is set. Enter it in Settings (it is kept in the system keyring) or set "
                "AZURE_VOICELIVE_API_KEY."
            )
        SECRETS.add(spec.api_key)
        return AzureKeyCredential(spec.api_key)
    from azure.identity import aio as identity_aio

    inner: AsyncTokenCredential
    if spec.method is AuthMethod.AZURE_CLI:
        inner = identity_aio.AzureCliCredential(tenant_id=spec.tenant_id or "")
    elif spec.method is AuthMethod.INTERACTIVE_BROWSER:
        from azure.identity import InteractiveBrowserCredential

        inner = ThreadedTokenCredential(InteractiveBrowserCredential(tenant_id=spec.tenant_id))
    else:
        inner = identity_aio.DefaultAzureCredential()
    return ExpiryTrackingCredential(inner)
