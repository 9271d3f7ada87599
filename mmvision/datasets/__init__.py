"""mmvision.datasets: the embedded demo world (``mmvision.datasets.shapes``)."""
