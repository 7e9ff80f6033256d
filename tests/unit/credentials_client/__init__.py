"""The Credentials client's unit tests, one module per concern, against ``responses`` (no network)."""
