"""Dataset recipes: real formats -> manifests -> TFRecord shards (Apache Beam)."""
