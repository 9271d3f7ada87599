"""mmvision.fewshot."""
