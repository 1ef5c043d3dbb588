"""Who is this: matching embeddings against a store snapshot, and identity hashes."""
