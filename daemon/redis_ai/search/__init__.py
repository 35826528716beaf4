"""Semantic code search: chunks of the user's code, embedded offline, found by meaning.

chunks.py splits files, embed.py turns text into vectors with a model learned from the code
itself, index.py keeps chunks and vectors in Redis and queries them (the search module's KNN, or
a numpy scan on plain Redis), corpus.py walks folders, cli.py adds ``redis-ai index`` and
``redis-ai search``, analyzer.py keeps saved files indexed. docs/search.md tells the whole story.
"""
