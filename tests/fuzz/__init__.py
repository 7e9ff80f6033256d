"""The fuzz tier: property-based tests (hypothesis) of every door input comes through.

Each door is fed arbitrary input and must answer with a clear refusal or a result that settles:
no traceback, no partial write. ``doors`` holds the budget (short by default, long with
``CREDSYNC_SLOW=1``) and counts the inputs tried and the crashes; a run prints the counts.
"""
