"""Pure OCI types: digests, descriptors, manifests, references and media types. No I/O here."""
