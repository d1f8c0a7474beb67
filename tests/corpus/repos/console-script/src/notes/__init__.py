"""Notes, over HTTP."""
