"""Pieces of /openapi.json: shared schemas, the security scheme, the sign-in routes."""
