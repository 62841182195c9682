"""Turning a model directory into a ModelPack artifact: file selection, classification, tar layers, manifest."""
