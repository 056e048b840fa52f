"""State storage: the compare-and-swap store and its two backends (ConfigMap, local file)."""
