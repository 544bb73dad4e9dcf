"""Synthetic multimodal fake-news sample corpus for COOLANT, in the MediaEval and Weibo layouts.

Posts pair a caption with a rendered shape scene (the image-text generator's scenes and
captions). Real posts show what their caption says; fake posts show another scene, a manipulated
scene, or carry a caption whose claim contradicts the image, so only comparing the text with the
image reveals the label. ``corpus.make_news_corpus`` writes it.
"""
