"""Simplified-Chinese captions for the Weibo layout: the same claim as the English caption.

A caption is parsed into its ``Claim`` (``claims.py``) and written again from a Chinese template
of the same form, so the Chinese text is true of exactly the scenes the English one is::

    a small red circle left of a blue square      红色的小圆形在蓝色方形的左边
    three shapes on a mottled background          纹理背景上有三个图形
    a picture of a red circle and a blue star     一张图片，上面有一个红色圆形和一个蓝色星形
"""

from __future__ import annotations

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.news.claims import (
    RELATION_FORMS,
    Claim,
    Mention,
    parse_caption,
)

COLOURS_ZH = {
    "red": "红色",
    "green": "绿色",
    "blue": "蓝色",
    "yellow": "黄色",
    "purple": "紫色",
    "orange": "橙色",
    "pink": "粉色",
}
SHAPES_ZH = {
    "circle": "圆形",
    "square": "方形",
    "triangle": "三角形",
    "star": "星形",
    "diamond": "菱形",
    "cross": "十字形",
}
SIZES_ZH = {"small": "小", "large": "大"}
SIDES_ZH = {
    "left of": ("左边", "左侧"),
    "right of": ("右边", "右侧"),
    "above": ("上面", "上方"),
    "below": ("下面", "下方"),
}
COMPARE_ZH = {"bigger than": "大", "smaller than": "小"}
POSITIONS_ZH = {
    "top left": "左上角",
    "top right": "右上角",
    "bottom left": "左下角",
    "bottom right": "右下角",
    "top": "上方",
    "bottom": "下方",
    "left": "左侧",
    "right": "右侧",
    "center": "中央",
}
BACKGROUNDS_ZH = {
    "solid": ("纯色", "单色"),
    "gradient": ("渐变", "渐变色"),
    "texture": ("纹理", "斑驳"),
}
COUNTS_ZH = ("零", "一", "两", "三", "四", "五", "六")
PICTURES_ZH = ("一张图片", "一张照片", "一幅画")


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def object_zh(mention: Mention) -> str:
    """``红色圆形`` or, with a size, ``红色的小圆形``."""
    colour, shape = COLOURS_ZH[mention.colour], SHAPES_ZH[mention.shape]
    if mention.size is None:
        return colour + shape
    return f"{colour}的{SIZES_ZH[mention.size]}{shape}"


def _relation_zh(claim: Claim, rng: np.random.Generator) -> str:
    subject, predicate, obj = claim.relation  # type: ignore[misc]
    a, b = object_zh(claim.objects[subject]), object_zh(claim.objects[obj])
    if predicate in COMPARE_ZH:
        body = f"{a}比{b}{COMPARE_ZH[predicate]}"
    else:
        body = f"{a}在{b}的{_pick(SIDES_ZH[predicate], rng)}"
    prefix = {"relation_plain": "", "relation_there_is": "有一个", "relation_the": "这个"}
    return prefix[claim.form] + body


def _listing_zh(claim: Claim) -> str:
    parts = ["一个" + object_zh(m) for m in claim.objects]
    return parts[0] if len(parts) == 1 else "、".join(parts[:-1]) + "和" + parts[-1]


def chinese_claim(claim: Claim, rng: np.random.Generator) -> str:
    """The claim as a Chinese sentence of the same template form."""
    if claim.form in RELATION_FORMS:
        return _relation_zh(claim, rng)
    if claim.form == "position":
        index, where = claim.position  # type: ignore[misc]
        return f"图片{POSITIONS_ZH[where]}有一个{object_zh(claim.objects[index])}"
    if claim.form == "count_on_background":
        background = _pick(BACKGROUNDS_ZH[claim.background], rng)  # type: ignore[index]
        return f"{background}背景上有{COUNTS_ZH[claim.count]}个图形"  # type: ignore[index]
    if claim.form == "one_among_others":
        others = COUNTS_ZH[claim.count - 1]  # type: ignore[operator]
        return f"一个{object_zh(claim.objects[0])}和另外{others}个图形"
    if claim.form == "one_on_its_own":
        return f"只有一个{object_zh(claim.objects[0])}"
    if claim.form == "background_with":
        background = _pick(BACKGROUNDS_ZH[claim.background], rng)  # type: ignore[index]
        return f"{background}背景上有{_listing_zh(claim)}"
    if claim.form == "picture_of":
        return f"{_pick(PICTURES_ZH, rng)}，上面有{_listing_zh(claim)}"
    if claim.form == "listing_only":
        return _listing_zh(claim)
    raise ValueError(f"unknown claim form {claim.form!r}")


def chinese_caption(caption: str, rng: np.random.Generator) -> str:
    """The English template caption said in Chinese (same claim, same truth)."""
    return chinese_claim(parse_caption(caption), rng)
