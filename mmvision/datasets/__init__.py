"""mmvision.datasets."""
