"""Frame sources and the capture thread. Knows nothing of faces or HTTP."""
