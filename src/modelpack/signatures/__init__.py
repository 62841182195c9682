"""Signing and verifying models, compatible with cosign: keys, DSSE, sigstore bundles, and where
signatures live in a registry (OCI 1.1 referrers, the tag-schema fallback, cosign's legacy `.sig` tags)."""
