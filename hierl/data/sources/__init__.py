"""Where prices come from: the embedded sample, the user's files, or the synthetic generator.

Every source returns a `SourceTable` in one long, typed schema (see `schema.py`), so validation and the layers
above never care where a row came from.
"""
