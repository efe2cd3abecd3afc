"""The demo library: a few frames of real sky fields in several formats, for a first run."""
