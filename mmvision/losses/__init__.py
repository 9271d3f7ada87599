"""mmvision.losses."""
