"""Where a model directory keeps its metadata, kept apart from the schema so that commands which only
name the file (pull restoring it, init writing it) do not import pydantic."""

METADATA_FILE = "modelpack.yaml"
MAX_METADATA_BYTES = 1024 * 1024
