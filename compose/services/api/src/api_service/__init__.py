"""The bundled example JSON-RPC API."""
