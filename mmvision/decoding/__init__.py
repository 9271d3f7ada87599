"""mmvision.decoding: greedy and beam search, batched, inside ``tf.function``.

See ``mmvision.decoding.search`` for the step-function contract.
"""

from mmvision.decoding.search import beam_search, decode, greedy_search, ids_to_text

__all__ = ["beam_search", "decode", "greedy_search", "ids_to_text"]
