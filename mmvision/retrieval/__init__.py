"""mmvision.retrieval."""
