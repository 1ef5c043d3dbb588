"""What tests and benchmarks use to drive the server and are not part of it: a server thread, an MJPEG
reader, a throwaway PostgreSQL server, clips made of photos, and a recorded embedder for the fast tier."""
