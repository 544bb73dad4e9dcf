"""VG-BERT (Zhang et al., NeurIPS 2021): a VGG visual stream and a BERT language stream aligned by
word-region max-sim contrastive learning, then object retrieval and relation inference."""
