"""Trained runs used for prediction: caption or classify image files, take a
run's image tower."""
