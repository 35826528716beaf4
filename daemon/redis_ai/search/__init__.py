"""Semantic code search: chunks of the user's code, embedded offline, found by meaning.

chunks.py splits files; embed.py turns text into vectors with a model learned from the code
itself (remote.py: or with a registry model's /v1/embeddings); index.py keeps chunks, vectors
and the model in Redis and answers searches through backends.py (the search module's KNN, or a
numpy scan on plain Redis); corpus.py walks folders; service.py is the protocol's ``search``
method, cli.py ``redis-ai index`` and ``redis-ai search``, analyzer.py keeps saved files
indexed. docs/search.md tells the whole story.
"""
