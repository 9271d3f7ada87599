"""mmvision.configs."""
