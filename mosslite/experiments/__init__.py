"""Controlled experiments on the bilingual world, each a library module with a JSON/CSV/plot result.

`mosslite experiment <name>` runs one; `mosslite.experiments.cli.EXPERIMENTS` lists them.
"""
