"""COOLANT: cross-modal contrastive learning for multimodal fake news detection (Wang et al.,
ACM MM 2023)."""
