"""Renderers, one module per client format: provider (and address) in, bytes out."""
