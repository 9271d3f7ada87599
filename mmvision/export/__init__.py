"""SavedModel exports for TF Serving (pixels via ``data.images.bytes_to_pixels``)."""

from mmvision.export.captioner import export_captioner

__all__ = ["export_captioner"]
