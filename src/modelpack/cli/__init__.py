"""The `modelpack` command line: argument parsing and output only; the work is in `modelpack.api`."""
