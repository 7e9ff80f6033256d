"""HTTP clients for the services credsync talks to (the Credentials service and its OAuth2 issuer)."""
