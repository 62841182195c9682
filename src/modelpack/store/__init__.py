"""Where content lives: the local OCI layout store and remote registries, behind one `Storage` protocol."""
