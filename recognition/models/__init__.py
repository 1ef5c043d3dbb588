"""The models: Haar detection, landmark alignment, the embedding model and its process, weights, face quality."""
