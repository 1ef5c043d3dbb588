"""Use cases with plain types in and out (people, accounts, live status, album people, the classifier),
built whole by run.py and called by the routes; nothing here knows HTTP."""
