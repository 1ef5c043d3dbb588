"""The shared store: identities in PostgreSQL for several servers (store.py), its schema migrations
(schema.py) and the thread that follows the other servers' changes (follower.py)."""
