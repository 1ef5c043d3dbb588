"""The per-camera pipeline: the recognition worker that follows the newest frame."""
