"""mmvision.distribute: training on several workers with ``tf.distribute``.

- ``tf_config``: ``read()`` checks ``$TF_CONFIG`` (a malformed one is a
  clear ``ValueError``, not a hang); ``local_cluster(n)`` gives the
  ``TF_CONFIG`` of ``n`` workers on this machine.
- ``custom_fit``: the custom distributed step that replaces ``model.fit``
  under ``MultiWorkerMirroredStrategy``, driving the usual Keras callbacks.

``training.fit_task(..., strategy="multiworker")`` (``mmvision train TASK
--strategy multiworker``) uses both; users who write their own loop call
them directly.
"""

from mmvision.distribute.custom_fit import custom_fit
from mmvision.distribute.tf_config import ClusterSpec, local_cluster, read

__all__ = ["ClusterSpec", "custom_fit", "local_cluster", "read"]
