"""Per-image work built on the models and the matcher: analyse a photo, sample a video, build the parts."""
