"""Technical documentation per model version (EU AI Act Annex IV): facts gathered from the registry
(`gather.py`, with `lineage.py` and `integrity.py`), rendered as HTML (`html.py`) or Markdown
(`markdown.py`). The API is `modelpack.api.reporting`."""
