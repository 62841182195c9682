"""`modelpack ui`: a read-only web UI over any OCI registry (the registry is the database).

- `snapshot`: a repository as one page load sees it (its tag list read once; manifests and small
  blobs cached by digest), so a 100-version page costs one HEAD per tag after the first load.
- `browse`: the home and repository pages' data (versions, aliases, metrics, signature status).
- `version_page`: one version's metadata, files, lineage, signatures, README, diff and snippets.
- `charts`: a metric across versions as inline SVG geometry (no script, no CDN).
- `app`: the Starlette routes and Jinja2 templates (autoescaped); `server`: binding and running it.
"""
