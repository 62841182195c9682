"""Reading what a model's files say about it, without loading them: one module per format, combined by
`init` into a modelpack.yaml."""
