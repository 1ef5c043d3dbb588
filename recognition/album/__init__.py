"""Album search: the photos of a folder indexed by the faces in them, searched by a face."""
