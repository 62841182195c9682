"""Container images built from a model without a Docker engine: a base image's layers, plus the model
files as reproducible tar layers under /models, plus a config that records the model's digest."""
