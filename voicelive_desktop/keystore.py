"""The API key per endpoint in the OS keyring, never in the settings file; in memory when there is no keyring."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

KEYRING_SERVICE = "voicelive-desktop"


class NoKeyring(RuntimeError):
    """No usable system keyring: the key can be kept for this session only."""


class SecretStore:
    """The API key per endpoint, in the OS keyring (never in the settings file)."""

    def __init__(self, backend: Any = None) -> None:
        self._backend = backend
        self._session_only: dict[str, str] = {}

    def _keyring(self) -> Any:
        if self._backend is None:
            import keyring

            self._backend = keyring.get_keyring()
        priority = getattr(self._backend, "priority", 1)
        module = type(self._backend).__module__
        if module.startswith("keyring.backends.fail") or (isinstance(priority, int | float) and priority <= 0):
            raise NoKeyring(
                "No system keyring is available to store the API key safely (install and unlock one, such as "
                "GNOME Keyring or KWallet). The key will be kept for this session only."
            )
        return self._backend

    @staticmethod
    def _account(endpoint: str) -> str:
        return urlparse(endpoint).hostname or endpoint or "default"

    def get(self, endpoint: str) -> str | None:
        """The key for ``endpoint``: this session's, else the keyring's (None when there is no keyring)."""
        account = self._account(endpoint)
        if account in self._session_only:
            return self._session_only[account]
        try:
            value = self._keyring().get_password(KEYRING_SERVICE, account)
        except NoKeyring:
            return None
        except Exception as exc:  # keyring backends raise their own types (locked, D-Bus errors...)
            log.warning("could not read the keyring: %s", type(exc).__name__)
            return None
        return str(value) if value else None

    def set(self, endpoint: str, key: str) -> None:
        """Store the key in the keyring.

        Raises:
            NoKeyring: with no keyring; call :meth:`set_for_session` if the user agrees.
        """
        try:
            self._keyring().set_password(KEYRING_SERVICE, self._account(endpoint), key)
        except NoKeyring:
            raise
        except Exception as exc:
            raise NoKeyring(f"The keyring refused the key ({type(exc).__name__}). It was not saved.") from exc
        self._session_only.pop(self._account(endpoint), None)

    def set_for_session(self, endpoint: str, key: str) -> None:
        """Keep the key in memory only, until the app quits."""
        self._session_only[self._account(endpoint)] = key

    def delete(self, endpoint: str) -> None:
        """Forget the key (keyring and session): Settings > Connection > Forget the stored key."""
        account = self._account(endpoint)
        self._session_only.pop(account, None)
        try:
            self._keyring().delete_password(KEYRING_SERVICE, account)
        except Exception as exc:
            log.debug("nothing deleted from the keyring: %s", type(exc).__name__)
