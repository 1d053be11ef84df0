"""The only code that sees HTTP: paths, versions, bodies, the envelope, auth headers, OpenAPI."""
