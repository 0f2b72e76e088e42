"""Reports: data built from the catalogue, and pure writers that render it per format."""
