"""Jupyter widgets built on the library. Nothing in mosslite imports this package; notebooks do."""
