"""The models that answer capabilities such as ``completion``: the registry in Redis (registry),
routing by measured latency and success (routing), the HTTP LLM providers (providers), and the
offline n-gram completion model learned from the user's files (ngram, watcher)."""
