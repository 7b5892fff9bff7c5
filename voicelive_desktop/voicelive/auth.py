"""How the user signs in: a value type with no dependencies (the settings panel names it before the SDK loads)."""

from __future__ import annotations

import enum


class AuthMethod(enum.Enum):
    """How the user signs in."""

    API_KEY = "api-key"
    ENTRA_DEFAULT = "entra-default"
    AZURE_CLI = "azure-cli"
    INTERACTIVE_BROWSER = "interactive-browser"

    @property
    def label(self) -> str:
        """Human name, as shown in Settings."""
        return _AUTH_LABELS[self]


_AUTH_LABELS = {
    AuthMethod.API_KEY: "API key",
    AuthMethod.ENTRA_DEFAULT: "Microsoft Entra ID (default chain)",
    AuthMethod.AZURE_CLI: "Microsoft Entra ID (Azure CLI)",
    AuthMethod.INTERACTIVE_BROWSER: "Microsoft Entra ID (browser sign-in)",
}
