"""The conversation as the user sees it: a transcript model fed by app events. No Qt."""
