"""The identity store: its interface, the sealed pickle backend, keys, crash-safe files, exports."""
