"""The bundled example authorization server."""
