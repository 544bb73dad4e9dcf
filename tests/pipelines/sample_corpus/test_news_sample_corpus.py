"""The synthetic fake-news sample corpus: MediaEval and Weibo layouts, shares of every post kind,
event-disjoint splits, captions that agree with the image exactly for real (and ambiguous)
posts, no label in the text or the image alone, determinism and caching.

A small corpus (200 MediaEval + 150 Weibo posts at 64 px) is built once per module in about
0.5 s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections import Counter
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from job_loader import load_job
from PIL import Image

from crossmodal_ray.pipelines.sample_corpus.image_text.captions import make_captions
from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    SceneConfig,
    render_scene,
    sample_scene,
    scene_rng,
)
from crossmodal_ray.pipelines.sample_corpus.news.chinese import chinese_caption
from crossmodal_ray.pipelines.sample_corpus.news.claims import (
    absent_colours,
    caption_holds,
    mentioned_objects,
    parse_caption,
)
from crossmodal_ray.pipelines.sample_corpus.news.config import (
    CONTRADICTING,
    LAYOUTS,
    MANIPULATED,
    MEDIAEVAL,
    MISMATCHED,
    WEIBO,
    NewsSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.news.corpus import (
    SAMPLE_NEWS_DIR,
    layout_events,
    make_news_corpus,
)
from crossmodal_ray.pipelines.sample_corpus.news.events import make_event, sample_event_scene
from crossmodal_ray.pipelines.sample_corpus.news.plan import plan_posts
from crossmodal_ray.pipelines.sample_corpus.news.posts import (
    make_post,
    perturb_object,
    reverse_relations,
)
from crossmodal_ray.pipelines.sample_corpus.news.render import render_scene_8bit

SMALL = NewsSampleConfig(
    mediaeval_posts=200,
    mediaeval_events=10,
    weibo_posts=150,
    weibo_events=6,
    image_size=64,
    humor_share=0.05,
    multi_image_share=0.1,
)
TINY = NewsSampleConfig(
    mediaeval_posts=24, mediaeval_events=3, weibo_posts=12, weibo_events=2, image_size=48
)
TWEET_TIME = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d\d \d\d:\d\d:\d\d \+0000 20\d\d"
)
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_news_corpus(tmp_path_factory.mktemp("news") / "sample", SMALL)


@pytest.fixture(scope="module")
def table(corpus) -> pd.DataFrame:
    return pd.read_csv(corpus / "_posts.csv", dtype={"post_id": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def tweets(corpus) -> dict[str, pd.DataFrame]:
    return {
        split: pd.read_csv(
            corpus / "mediaeval" / split / "tweets.txt", sep="\t", dtype=str, quoting=3
        )
        for split in ("devset", "testset")
    }


def _weibo_blocks(path: Path) -> list[tuple[str, str, str]]:
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) % 3 == 0
    return [tuple(lines[i : i + 3]) for i in range(0, len(lines), 3)]  # type: ignore[misc]


@pytest.fixture(scope="module")
def posts() -> dict[str, list]:
    """Every post of SMALL as drawn (scenes included), per layout, by index."""
    drawn = {}
    for layout in LAYOUTS:
        events = layout_events(SMALL, layout)
        plans = plan_posts(SMALL, layout)
        drawn[layout] = [make_post(SMALL, layout, p, events[p.event]) for p in plans]
    return drawn


def _blocks(image: Image.Image) -> np.ndarray:
    """4x4 block means: the picture without most of the pixel noise, which JPEG partly drops."""
    a = np.asarray(image, dtype=np.float32)
    n = a.shape[0] // 4
    return a[: n * 4, : n * 4].reshape(n, 4, n, 4, 3).mean(axis=(1, 3))


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_mediaeval_layout(corpus, tweets, table):
    for split, frame in tweets.items():
        folder = corpus / "mediaeval" / split
        header = (folder / "tweets.txt").read_text().splitlines()[0]
        assert header == "tweetId\ttweetText\tuserId\timageId(s)\tusername\ttimestamp\tlabel"
        assert set(frame["label"]) <= {"fake", "real", "humor"}
        assert frame["tweetId"].str.fullmatch(r"\d{18}").all()
        assert frame["timestamp"].str.fullmatch(TWEET_TIME).all()
        assert frame["tweetText"].str.contains(r"#\w+ .*http://t\.co/\w{10}$").all()
        images = pd.read_csv(folder / "images.txt", sep="\t", dtype=str)
        assert list(images.columns) == ["image_id", "image_url", "annotation", "event"]
        listed = {(r.event, r.image_id) for r in images.itertuples()}
        on_disk = {(p.parent.name, p.stem) for p in (folder / "images").glob("*/*.jpg")}
        assert listed == on_disk
        used = [i for ids in frame["imageId(s)"] for i in ids.split(",")]
        assert sorted(used) == sorted(images["image_id"])
        for event, image_id in listed:
            assert re.fullmatch(rf"{event}_img_\d\d+", image_id)
    both = pd.concat(tweets.values())
    assert both["imageId(s)"].str.contains(",").any()  # some posts have two images
    assert set(both["tweetId"]) == set(table.loc[table.layout == MEDIAEVAL, "post_id"])
    assert (both["label"] == "humor").sum() == round(SMALL.humor_share * SMALL.mediaeval_posts)
    with Image.open(corpus / table.loc[0, "images"].split(";")[0]) as image:
        assert image.format == "JPEG" and image.size == (SMALL.image_size,) * 2


def test_weibo_layout(corpus, table):
    folder = corpus / "weibo"
    files = sorted(p.name for p in (folder / "tweets").iterdir())
    assert files == ["test_nonrumor.txt", "test_rumor.txt", "train_nonrumor.txt", "train_rumor.txt"]
    seen = {}
    for path in (folder / "tweets").iterdir():
        rumor = "_rumor" in path.name
        for meta, urls, text in _weibo_blocks(path):
            post_id = meta.split("|")[0]
            assert re.fullmatch(r"\d{16}", post_id)
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", meta.split("|")[-1])
            assert urls.endswith("|null")
            for url in urls.split("|")[:-1]:
                assert re.fullmatch(r"http://ww\d\.sinaimg\.cn/mw690/[0-9a-z]{32}\.jpg", url)
                images = folder / ("rumor_images" if rumor else "nonrumor_images")
                assert (images / url.rsplit("/", 1)[1]).is_file()
            assert CJK.search(text) and re.search(r"#[\u4e00-\u9fff]+#", text)
            seen[post_id] = ("fake" if rumor else "real", path.name.split("_")[0])
    weibo = table[table.layout == WEIBO]
    assert seen == {r.post_id: (r.label, r.split) for r in weibo.itertuples()}
    n_images = len(list((folder / "rumor_images").iterdir())) + len(
        list((folder / "nonrumor_images").iterdir())
    )
    assert n_images == sum(len(i.split(";")) for i in weibo["images"])


def test_counts_match_the_config_shares(corpus, table):
    summary = json.loads((corpus / "_corpus.json").read_text())
    for layout in LAYOUTS:
        rows = table[table.layout == layout]
        assert len(rows) == SMALL.posts(layout)
        counts = Counter(zip(rows["kind"], rows["ambiguous"].astype(bool), strict=True))
        for category, share in SMALL.kind_shares(layout).items():
            assert abs(counts[category] - share * len(rows)) <= 1, (layout, category)
        layout_summary = summary["layouts"][layout]
        assert layout_summary["labels"] == dict(sorted(Counter(rows["label"]).items()))
        assert layout_summary["kinds"] == dict(sorted(Counter(rows["kind"]).items()))
        assert layout_summary["ambiguous"] == rows["ambiguous"].sum()
    weibo = table[table.layout == WEIBO]
    assert abs((weibo["split"] == "test").mean() - SMALL.weibo_test_share) < 0.05


def test_events_are_disjoint_and_balanced(table, tweets, corpus):
    mediaeval = table[table.layout == MEDIAEVAL]
    dev = set(mediaeval.loc[mediaeval.split == "devset", "event"])
    test = set(mediaeval.loc[mediaeval.split == "testset", "event"])
    assert not dev & test
    assert len(test) == round(SMALL.mediaeval_events * SMALL.mediaeval_test_event_share)
    for split in ("devset", "testset"):
        images = pd.read_csv(corpus / "mediaeval" / split / "images.txt", sep="\t", dtype=str)
        assert set(images["event"]) == (dev if split == "devset" else test)
    labelled = table[table.label != "humor"]
    fake_share = labelled.groupby(["layout", "event"])["label"].apply(
        lambda s: (s == "fake").mean()
    )
    assert fake_share.between(0.4, 0.6).all(), fake_share


def test_captions_agree_with_the_image_exactly_for_real_and_ambiguous_posts(posts, table):
    perturbations = Counter()
    for layout, drawn in posts.items():
        rows = table[table.layout == layout].set_index("post_index")
        for post in drawn:
            row = rows.loc[post.plan.index]
            assert (row.label, row.kind, bool(row.ambiguous)) == (
                post.label,
                post.kind,
                post.plan.ambiguous,
            )
            agrees = caption_holds(post.caption, post.image_scene)
            assert agrees == (post.label != "fake" or post.plan.ambiguous), post
            if post.perturbation != "relation":  # a reversed relation holds of no scene
                assert caption_holds(post.caption, post.caption_scene), post
            if post.label == "fake" and not post.plan.ambiguous:  # the image lacks a colour
                assert absent_colours(post.caption, post.image_scene), post
            if post.kind == CONTRADICTING and not post.plan.ambiguous:
                assert post.image_scene.objects[0].box == post.caption_scene.objects[0].box
                perturbations[post.perturbation] += 1
            if post.kind == MANIPULATED and not post.plan.ambiguous:
                changed = [
                    i
                    for i, (a, b) in enumerate(
                        zip(post.caption_scene.objects, post.image_scene.objects, strict=True)
                    )
                    if a != b
                ]
                assert len(changed) == 1
                assert changed[0] in mentioned_objects(post.caption, post.caption_scene)
    assert "colour" in perturbations and set(perturbations) <= {"colour", "object"}


def test_any_evidence_fakes_also_change_shapes_and_relations():
    """With ``fake_evidence="any"`` a clear fake may keep every colour its caption names: a
    changed shape or reversed relations contradict it."""
    config = dataclasses.replace(SMALL, fake_evidence="any", ambiguous_share=0.0)
    events = layout_events(config, MEDIAEVAL)
    fakes = [
        make_post(config, MEDIAEVAL, p, events[p.event])
        for p in plan_posts(config, MEDIAEVAL)
        if p.kind in (MISMATCHED, MANIPULATED, CONTRADICTING)
    ]
    assert not any(caption_holds(post.caption, post.image_scene) for post in fakes)
    assert {"shape", "colour", "other scene"} <= {post.perturbation for post in fakes}
    assert any(not absent_colours(post.caption, post.image_scene) for post in fakes)


def test_files_hold_the_drawn_posts(posts, table, tweets, corpus):
    text = pd.concat(tweets.values()).set_index("tweetId")["tweetText"]
    rows = table.set_index(["layout", "post_index"])
    for post in posts[MEDIAEVAL][:60]:
        row = rows.loc[(MEDIAEVAL, post.plan.index)]
        assert post.caption in text[row.post_id]
        assert post.event.hashtag_en in text[row.post_id]
    for post in posts[MEDIAEVAL][:40] + posts[WEIBO][:40]:
        path = corpus / rows.loc[(post.layout, post.plan.index)].images.split(";")[0]
        written = _blocks(Image.open(path).convert("RGB"))
        same = np.abs(written - _blocks(render_scene_8bit(post.image_scene)))
        assert same.mean() < 2  # JPEG quality 90 drops part of the pixel noise
        if post.caption_scene.objects != post.image_scene.objects:
            other = np.abs(written - _blocks(render_scene_8bit(post.caption_scene)))
            assert (other**2).sum() > (same**2).sum()  # closer to the image scene


def test_neither_text_nor_image_alone_tells_the_label():
    """Over 2,400 posts, real and fake captions use the templates and name the colours at the
    same rates, and their images hold as many objects of each colour and shape (the gaps
    allowed are about three standard errors)."""
    config = dataclasses.replace(SMALL, weibo_posts=2400, weibo_events=24, ambiguous_share=0.0)
    events = layout_events(config, WEIBO)
    drawn = [make_post(config, WEIBO, p, events[p.event]) for p in plan_posts(config, WEIBO)]
    by_label: dict[str, list] = {"real": [], "fake": []}
    for post in drawn:
        by_label[post.label].append(post)

    def rates(group, feature) -> Counter:
        counts = Counter(f for post in group for f in feature(post))
        return Counter({k: v / len(group) for k, v in counts.items()})

    features = {
        "form": lambda p: [parse_caption(p.caption).form],
        "caption colours": lambda p: [m.colour for m in parse_caption(p.caption).objects],
        "image colours": lambda p: [o.colour for o in p.image_scene.objects],
        "image shapes": lambda p: [o.shape for o in p.image_scene.objects],
    }
    for name, feature in features.items():
        real, fake = rates(by_label["real"], feature), rates(by_label["fake"], feature)
        gap = max(abs(real[k] - fake[k]) for k in real | fake)
        assert gap < 0.08, (name, real, fake)


@pytest.mark.parametrize("event_backgrounds", [False, True])
def test_backgrounds_tell_the_event_only_when_asked(event_backgrounds):
    """By default an image's background says nothing of its event (the share of the variance of
    the background grey level explained by the event is what chance gives, ~ events / posts);
    with ``event_backgrounds`` each event has its own palette and the event explains most of it.
    """
    config = dataclasses.replace(SMALL, event_backgrounds=event_backgrounds)
    events = layout_events(config, MEDIAEVAL)
    plans = plan_posts(config, MEDIAEVAL)
    grey = np.array(
        [
            np.mean(
                make_post(config, MEDIAEVAL, p, events[p.event]).image_scene.background.colour_a
            )
            for p in plans
        ]
    )
    event = np.array([p.event for p in plans])
    means = {e: grey[event == e].mean() for e in set(event)}
    between = np.mean([(means[e] - grey.mean()) ** 2 for e in event])
    explained = between / grey.var()
    if event_backgrounds:
        assert explained > 0.5, explained
    else:
        assert explained < 0.15, explained  # chance: about 10 events / 200 posts = 0.05


def test_parsed_claims_of_every_template_hold_and_perturbations_break_them():
    config = SceneConfig(image_size=96)
    event = make_event(0, WEIBO, 0, n_shapes=4, n_colours=5)
    rng = np.random.default_rng(1)
    for i in range(150):
        scene = sample_scene(config, scene_rng(config, i))
        for caption in make_captions(scene, scene_rng(config, i), n=5):
            assert caption_holds(caption, scene), caption
            assert CJK.search(chinese_caption(caption, rng))
        scene = sample_event_scene(event, config, rng)
        for caption in make_captions(scene, rng, n=5):
            named = mentioned_objects(caption, scene)
            for k in named:
                changed = perturb_object(scene, k, "object", event, rng)
                assert changed is not None and not caption_holds(caption, changed)
        if scene.relations:  # every relation said backwards is false of the picture
            flipped = reverse_relations(scene)
            for caption in make_captions(flipped, rng, n=5):
                assert caption_holds(caption, scene) == (parse_caption(caption).relation is None)
    assert parse_caption("a small red circle left of a blue square").relation == (0, "left of", 1)
    claim = parse_caption("three shapes on a mottled background")
    assert (claim.count, claim.background, claim.objects) == (3, "texture", ())
    assert chinese_caption("the red circle is bigger than the blue star", rng) == (
        "这个红色圆形比蓝色星形大"
    )
    with pytest.raises(ValueError):
        parse_caption("a red circle eating a blue square")


def test_8bit_renderer_matches_render_scene():
    config = SceneConfig(image_size=64)
    for i in range(20):
        scene = sample_scene(config, scene_rng(config, i))
        a = np.asarray(render_scene(scene), dtype=np.int16)
        b = np.asarray(render_scene_8bit(scene), dtype=np.int16)
        assert np.abs(a - b).max() <= 2


def test_same_config_same_bytes_and_cached(tmp_path):
    first = make_news_corpus(tmp_path / "a", TINY)
    second = make_news_corpus(tmp_path / "b", TINY)
    assert _tree_hash(first) == _tree_hash(second)
    marker = first / "_corpus.json"
    before = marker.stat().st_mtime_ns
    started = time.perf_counter()
    assert make_news_corpus(first, TINY) == first
    assert time.perf_counter() - started < 0.5
    assert marker.stat().st_mtime_ns == before
    other = dataclasses.replace(TINY, seed=1)
    make_news_corpus(first, other)
    assert json.loads(marker.read_text())["config"]["seed"] == 1
    assert _tree_hash(first) != _tree_hash(second)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a corpus")
    with pytest.raises(FileExistsError):
        make_news_corpus(tmp_path / "mine", TINY)


def test_default_config_is_big_enough():
    config = NewsSampleConfig()
    assert SAMPLE_NEWS_DIR == "data/raw/news_sample"
    for layout in LAYOUTS:
        assert config.posts(layout) >= 3000
        assert abs(sum(config.kind_shares(layout).values()) - 1) < 1e-9
    labelled = config.mediaeval_posts * (1 - config.humor_share)
    assert labelled >= 3000  # MediaEval readers drop humor
    assert config.mediaeval_events == 40 and config.image_size == 128
    test_events = round(config.mediaeval_events * config.mediaeval_test_event_share)
    assert test_events >= 5 and config.mediaeval_posts / config.mediaeval_events >= 50
    assert config.fake_share == 0.5 and config.ambiguous_share == 0.1
    assert set(config.fake_kind_shares()) == {MISMATCHED, MANIPULATED, CONTRADICTING}


@pytest.mark.parametrize(
    "bad",
    [
        {"fake_share": 1.5},
        {"mismatched_share": 0.5},
        {"mediaeval_events": 1},
        {"weibo_posts": 1},
        {"colours_per_event": 8},
        {"image_size": 16},
    ],
)
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError):
        NewsSampleConfig(**bad)


def test_job_prints_one_json_line_and_reuses_the_corpus(tmp_path, capsys):
    job = load_job("make_news_corpus")
    argv = ["--out", str(tmp_path / "news"), "--mediaeval-posts", "24", "--mediaeval-events", "3"]
    argv += ["--weibo-posts", "12", "--weibo-events", "2", "--image-size", "48"]
    summary = job.main(argv)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("[sample] mediaeval: ")
    assert json.loads(lines[-1]) == summary
    assert summary["posts"] == {"mediaeval": 24, "weibo": 12} and not summary["cached"]
    assert job.main(argv)["cached"]
    image = next((tmp_path / "news" / "weibo" / "rumor_images").iterdir())
    assert Image.open(BytesIO(image.read_bytes())).size == (48, 48)
