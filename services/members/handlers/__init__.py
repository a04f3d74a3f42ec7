"""The use cases of the member registry, one module per concern."""
