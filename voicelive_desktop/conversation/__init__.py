"""The conversation as the user sees it (``transcript.py``) and as it is kept: a SQLite history that survives
damage, locks and crashes (``store.py``, on one worker thread through ``history.py``), and exports. No Qt."""
