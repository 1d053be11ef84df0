"""Pure code with no I/O: errors, versions, identities, tokens, time and id policy."""
