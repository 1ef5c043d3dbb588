"""Face detection, embedding, matching and the identity store. No HTTP, no environment reading."""
