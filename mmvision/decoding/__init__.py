"""mmvision.decoding."""
