"""The emulator's deterministic "model": it repeats what it heard and says who answered.

Asked "what did you say", it repeats its previous answer as its context holds it, so a test can see that a
truncate removed the words the user never heard. A long input is not read back whole (a real model would not
recite a pasted book either): the answer gives its length and how it begins.
"""

from __future__ import annotations

_MODE_NAMES = {
    None: "Voice Live model",
    "byom-azure-openai-realtime": "bring-your-own realtime",
    "byom-azure-openai-chat-completion": "bring-your-own chat completion",
}
_RECALL = ("what did you say", "repeat that")
#: Inputs longer than this are summed up, not repeated.
ECHO_CHARS = 400


def answer(
    heard: str | None,
    *,
    deployment: str,
    profile: str | None,
    typed: bool = False,
    said_before: str | None = None,
) -> str:
    """The reply to the latest user input (``heard`` is None when the response had no new input)."""
    who = f"This is {deployment}, answering in {_MODE_NAMES.get(profile, profile)} mode."
    if heard is None:
        return f"Hello. {who} Hold the key and speak, or type a message."
    if any(phrase in heard.lower() for phrase in _RECALL):
        return f"Before, I said: {said_before.strip() if said_before else 'nothing'}"
    verb = "wrote" if typed else "said"
    words = heard.strip()
    if len(words) > ECHO_CHARS:
        return f"You {verb} {len(words):,} characters, beginning: {words[:60].rstrip()}... {who}"
    return f"You {verb}: {words.rstrip('.?!')}. {who}"
