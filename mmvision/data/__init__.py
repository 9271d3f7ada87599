"""mmvision.data."""
