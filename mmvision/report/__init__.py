"""Plots and HTML reports for every task (PNG via matplotlib).

``plots``: confusion matrix, t-SNE, learning curves (one for every task,
from ``history.csv``), the classifier's ``report.html``; ``captions``:
caption grids; ``world``: the demo world summary.
"""

from mmvision.report.plots import (
    classifier_report_html,
    confusion_matrix_png,
    learning_curves_png,
    tsne_png,
)

__all__ = [
    "classifier_report_html",
    "confusion_matrix_png",
    "learning_curves_png",
    "tsne_png",
]
