"""The audio-visual sample corpus: real mp4 files (h264 + AAC) that PyAV and decord decode to
the same frame count, rate and audio length; AVA-format rows; speaking labels where the
speaker's voice is; mouths that open with their own voice in synchronised videos, and with a
delay equal to the shift in shifted ones; desynchronised videos labelled NOT_SPEAKING
throughout; determinism and caching.

A tiny corpus (4 videos of 3-4 s: two synchronised, one dubbed, one shifted) is built once per
module in about 2 s.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import av
import decord
import numpy as np
import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.sample_corpus.av.config import (
    DUBBED,
    IN_SYNC,
    LABELS,
    NOT_SPEAKING,
    SHIFTED,
    SPEAKING_AUDIBLE,
    AVSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.av.corpus import (
    SYNC_LABELS,
    make_av_corpus,
    read_corpus_summary,
)
from crossmodal_ray.pipelines.sample_corpus.av.encode import rgb_to_yuv420p, write_mp4
from crossmodal_ray.pipelines.sample_corpus.av.plan import (
    VideoPlan,
    desync_kinds,
    plan_corpus,
    plan_video,
)
from crossmodal_ray.pipelines.sample_corpus.av.render import render_frames, track_placements
from crossmodal_ray.pipelines.sample_corpus.av.speech import render_voice
from crossmodal_ray.pipelines.sample_corpus.av.speech import soundtrack as make_soundtrack

TINY = AVSampleConfig(
    videos=4,
    min_seconds=3.0,
    max_seconds=4.0,
    desync_share=0.5,
    dubbed_share=0.5,
    min_shift_seconds=0.4,
    max_shift_seconds=0.8,
    fidget_share=0.5,
    # Mouths that copy their voice's envelope exactly, casts of 2-4 with listeners: the checks
    # of synchrony below measure it frame by frame (loose lips: test_av_articulation.py).
    lip_jitter_seconds=0.0,
    min_faces=2,
    max_faces=4,
    listener_share=0.3,
    min_utterance_seconds=0.8,
    max_utterance_seconds=2.6,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_av_corpus(tmp_path_factory.mktemp("av") / "av_sample", TINY)


def read_table(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def read_annotations(corpus: Path, video_id: str) -> list[list[str]]:
    with (corpus / "annotations" / f"{video_id}-activespeaker.csv").open(newline="") as f:
        return list(csv.reader(f))


def decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Grey frames [n, H, W] float32 and mono audio, both with PyAV."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.stack(frames).astype(np.float32), np.concatenate(audio)


def frame_rms(audio: np.ndarray, frames: int, config: AVSampleConfig) -> np.ndarray:
    """[frames] RMS of the audio under each video frame."""
    per_frame = config.samples_per_frame
    return np.sqrt((audio[: frames * per_frame].reshape(frames, per_frame) ** 2).mean(axis=1))


def mouth_darkness(plan: VideoPlan, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Entity id -> [track frames] mean darkness (255 - grey) of the mouth region, measured on
    the decoded frames where the generator drew the face."""
    darkness = {}
    for p in track_placements(plan):
        g = p.sprite.geometry
        values = []
        for k, n in enumerate(range(p.track.first_frame, p.track.end_frame)):
            x, y = p.head_x[k], p.head_y[k] + g.mouth_y
            x0, x1 = int(x - g.mouth_half_width), int(np.ceil(x + g.mouth_half_width))
            y0, y1 = int(y - g.mouth_open - 1), int(np.ceil(y + g.mouth_open + 1))
            values.append(255.0 - frames[n, y0:y1, x0:x1].mean())
        darkness[p.track.entity_id] = np.asarray(values)
    return darkness


def lagged_correlation(mouth: np.ndarray, sound: np.ndarray, lag: int) -> float:
    """Correlation of ``mouth[t]`` with ``sound[t + lag]``."""
    n = mouth.shape[0]
    return float(
        np.corrcoef(mouth[max(0, -lag) : n - max(0, lag)], sound[max(0, lag) : n - max(0, -lag)])[
            0, 1
        ]
    )


def videos_by_kind(corpus: Path) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for row in read_table(corpus / "_videos.csv"):
        kinds.setdefault(row["desync"], []).append(row)
    return kinds


def test_tiny_corpus_has_every_kind_of_video(corpus):
    kinds = videos_by_kind(corpus)
    assert {k: len(v) for k, v in kinds.items()} == {IN_SYNC: 2, DUBBED: 1, SHIFTED: 1}
    assert desync_kinds(TINY) == [r["desync"] for r in read_table(corpus / "_videos.csv")]
    meta = read_corpus_summary(corpus)
    assert meta["counts"]["videos"] == 4
    assert meta["counts"]["desync"] == {IN_SYNC: 2, DUBBED: 1, SHIFTED: 1}
    assert sorted(p.name for p in (corpus / "videos").iterdir()) == [
        f"av_sample_{i:03d}.mp4" for i in range(4)
    ]


def test_videos_decode_with_pyav_and_decord_to_matching_lengths(corpus):
    for row in read_table(corpus / "_videos.csv"):
        path = corpus / "videos" / f"{row['video_id']}.mp4"
        frames = int(row["frames"])
        seconds = frames / TINY.fps
        with av.open(str(path)) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert video.codec_context.name == "h264"
            assert video.codec_context.pix_fmt == "yuv420p"
            assert (video.codec_context.width, video.codec_context.height) == (192, 144)
            assert video.average_rate == TINY.fps
            assert audio.codec_context.name == "aac"
            assert audio.codec_context.sample_rate == TINY.sample_rate
            assert audio.codec_context.layout.nb_channels == 1
        decoded_frames, decoded_audio = decode(path)
        assert decoded_frames.shape == (frames, 144, 192)
        assert abs(decoded_audio.shape[0] / TINY.sample_rate - seconds) <= 1 / TINY.fps
        reader = decord.VideoReader(str(path))
        assert len(reader) == frames
        assert reader.get_avg_fps() == pytest.approx(TINY.fps)
        assert reader[frames - 1].shape == (144, 192, 3)
        sound = decord.AudioReader(str(path), sample_rate=TINY.sample_rate, mono=True)
        # (decord 0.6's AudioReader.duration() is whole seconds: count the samples instead.)
        assert abs(sound.shape[1] / TINY.sample_rate - seconds) <= 1 / TINY.fps


def test_annotation_rows_are_ava_rows_for_every_visible_face(corpus):
    sync = {(r["video_id"], r["entity_id"]): r["in_sync"] for r in read_table(corpus / SYNC_LABELS)}
    tracks = read_table(corpus / "_tracks.csv")
    assert len(sync) == len(tracks) == read_corpus_summary(corpus)["counts"]["tracks"]
    for video in read_table(corpus / "_videos.csv"):
        video_id, frames = video["video_id"], int(video["frames"])
        rows = read_annotations(corpus, video_id)
        by_entity: dict[str, list[int]] = {}
        for row in rows:
            assert len(row) == 8
            vid, stamp, x1, y1, x2, y2, label, entity = row
            assert vid == video_id and entity.startswith(f"{video_id}:")
            assert len(stamp.split(".")[1]) == 2
            n = round(float(stamp) * TINY.fps)
            assert abs(n / TINY.fps - float(stamp)) < 1e-6 and 0 <= n < frames
            box = [float(v) for v in (x1, y1, x2, y2)]
            assert all(0.0 <= v <= 1.0 for v in box)
            assert box[0] < box[2] and box[1] < box[3]
            assert label in LABELS
            by_entity.setdefault(entity, []).append(n)
        entities = {e for (v, e) in sync if v == video_id}
        assert set(by_entity) == entities
        assert len(entities) == int(video["tracks"])
        for stamps in by_entity.values():
            # One row per frame, contiguous: a face that leaves comes back as another entity.
            assert stamps == list(range(stamps[0], stamps[-1] + 1))
        label_rows = {label: sum(r[6] == label for r in rows) for label in LABELS}
        assert label_rows == {label: int(video[label.lower() + "_rows"]) for label in LABELS}


def test_boxes_are_the_drawn_heads(corpus):
    """The face is inside its box: skin-coloured pixels fill the box centre, and the box
    moves with the head."""
    video_id = "av_sample_000"
    plan = plan_video(TINY, 0)
    frames, _ = decode(corpus / "videos" / f"{video_id}.mp4")
    rows = read_annotations(corpus, video_id)
    for row in rows[:: max(1, len(rows) // 40)]:
        n = round(float(row[1]) * TINY.fps)
        x1, y1, x2, y2 = (float(v) for v in row[2:6])
        track = next(t for t in plan.tracks if t.entity_id == row[7])
        skin = np.dot(plan.cast[track.person].appearance.skin, [0.299, 0.587, 0.114])
        cx, cy = (x1 + x2) / 2 * 192, (y1 + 0.6 * (y2 - y1)) * 144  # the cheek
        patch = frames[n, int(cy) - 1 : int(cy) + 2, int(cx) - 6 : int(cx) - 3]
        assert abs(patch.mean() - skin) < 12, row


def test_desynchronised_videos_label_every_face_not_speaking(corpus):
    kinds = videos_by_kind(corpus)
    sync = {r["entity_id"]: int(r["in_sync"]) for r in read_table(corpus / SYNC_LABELS)}
    tracks = {r["entity_id"]: r for r in read_table(corpus / "_tracks.csv")}
    for kind in (DUBBED, SHIFTED):
        (video,) = kinds[kind]
        plan = plan_video(TINY, int(video["video_id"][-3:]))
        assert plan.desync == kind
        assert (plan.shift != 0.0) == (kind == SHIFTED)
        if kind == SHIFTED:
            assert 0.4 <= abs(float(video["shift_seconds"])) <= 0.8
        rows = read_annotations(corpus, video["video_id"])
        assert {r[6] for r in rows} == {NOT_SPEAKING}
        entities = {r[7] for r in rows}
        assert all(sync[e] == 0 for e in entities)
        # Their speakers' mouths do move: only the sound gives them away.
        frames, _ = decode(corpus / "videos" / f"{video['video_id']}.mp4")
        darkness = mouth_darkness(plan, frames)
        speakers = [e for e in entities if tracks[e]["role"] == "speaker"]
        assert speakers and max(darkness[e].std() for e in speakers) > 5.0
    for video in kinds[IN_SYNC]:
        rows = read_annotations(corpus, video["video_id"])
        assert all(sync[r[7]] == 1 for r in rows)
        assert SPEAKING_AUDIBLE in {r[6] for r in rows}


def test_speaking_frames_carry_the_speakers_own_voice(corpus):
    """In a synchronised video, a face is SPEAKING_AUDIBLE where its own voice (re-synthesised
    alone) is loud and NOT_SPEAKING where it is silent; in the decoded soundtrack the speaking
    frames are far above the room tone."""
    checked = 0
    for video in videos_by_kind(corpus)[IN_SYNC]:
        plan = plan_video(TINY, int(video["video_id"][-3:]))
        _, audio = decode(corpus / "videos" / f"{plan.video_id}.mp4")
        mixture = frame_rms(audio, plan.frames, TINY)
        silent = frame_rms(make_soundtrack(plan, TINY), plan.frames, TINY) < 0.003
        rows = read_annotations(corpus, plan.video_id)
        for person in plan.cast:
            said = [u for u in plan.utterances if u.speaker == person.index and not u.inaudible]
            voice = render_voice(
                person.voice,
                said,
                0.0,
                plan.frames * TINY.samples_per_frame,
                TINY.sample_rate,
                np.random.default_rng(0),
            )
            own = frame_rms(voice, plan.frames, TINY)
            entities = {t.entity_id for t in plan.tracks if t.person == person.index}
            labels = {round(float(r[1]) * TINY.fps): r[6] for r in rows if r[7] in entities}
            speaking = [n for n, label in labels.items() if label == SPEAKING_AUDIBLE]
            quiet = [n for n, label in labels.items() if label == NOT_SPEAKING]
            if not person.speaker:
                assert not speaking and own.max() == 0.0
                continue
            if len(speaking) < 10 or len(quiet) < 10:
                continue
            assert own[speaking].mean() > 10 * own[quiet].mean()
            assert mixture[speaking].mean() > 10 * mixture[silent].mean()
            checked += 1
    assert checked >= 2


def test_mouths_open_with_their_own_voice_in_synchronised_videos(corpus):
    """The darkness of a speaker's mouth in the decoded frames follows the loudness of the
    decoded soundtrack, frame by frame, where no other voice is heard (r > 0.5), and best at
    lag 0: the signal an active speaker detector has to learn."""
    correlations = []
    for video in videos_by_kind(corpus)[IN_SYNC]:
        plan = plan_video(TINY, int(video["video_id"][-3:]))
        frames, audio = decode(corpus / "videos" / f"{plan.video_id}.mp4")
        loudness = frame_rms(audio, plan.frames, TINY)
        darkness = mouth_darkness(plan, frames)
        for track in plan.tracks:
            if not plan.cast[track.person].speaker:
                continue
            n = np.arange(track.first_frame, track.end_frame)
            t = (n + 0.5) / TINY.fps
            alone = np.ones(n.shape, bool)
            own_speech = np.zeros(n.shape, bool)
            for u in plan.utterances:
                during = (t >= u.start - 0.1) & (t < u.end + 0.1)
                if u.speaker == track.person:
                    own_speech |= during
                elif not u.inaudible:
                    alone &= ~during
            if alone.sum() < 20 or (own_speech & alone).sum() < 8:
                continue
            mouth, sound = darkness[track.entity_id][alone], loudness[n][alone]
            correlations.append(np.corrcoef(mouth, sound)[0, 1])
    assert len(correlations) >= 2
    assert min(correlations) > 0.5, correlations


def mouth_activity(plan: VideoPlan, frames: np.ndarray) -> np.ndarray:
    """[frames] summed mouth opening of every visible face (darkness above its track's floor)."""
    activity = np.zeros(plan.frames)
    darkness = mouth_darkness(plan, frames)
    for track in plan.tracks:
        d = darkness[track.entity_id]
        activity[track.first_frame : track.end_frame] += d - np.percentile(d, 5)
    return activity


def test_audio_lags_the_mouths_by_the_shift_and_not_at_all_when_in_sync(corpus):
    """Cross-correlating all mouths with the soundtrack: the peak is at lag 0 (+-1 frame) in a
    synchronised video and at ``shift * fps`` in a shifted one; a dubbed soundtrack matches
    the mouths at no lag as well as a synchronised one does."""
    lags = range(-25, 26)
    peaks = {}
    for video in read_table(corpus / "_videos.csv"):
        plan = plan_video(TINY, int(video["video_id"][-3:]))
        frames, audio = decode(corpus / "videos" / f"{plan.video_id}.mp4")
        activity = mouth_activity(plan, frames)
        loudness = frame_rms(audio, plan.frames, TINY)
        r = [lagged_correlation(activity, loudness, lag) for lag in lags]
        peaks[plan.desync, plan.index] = (lags[int(np.argmax(r))], max(r), plan.shift)
    for (kind, _), (lag, r, shift) in peaks.items():
        if kind == IN_SYNC:
            assert abs(lag) <= 1 and r > 0.5, peaks
        elif kind == SHIFTED:
            assert abs(lag - shift * TINY.fps) <= 1.0, peaks
        else:
            assert r < 0.5, peaks


def test_listeners_never_speak_but_some_mouths_move_without_sound(corpus):
    tracks = read_table(corpus / "_tracks.csv")
    listeners = [t for t in tracks if t["role"] == "listener"]
    assert listeners and all(int(t["speaking_frames"]) == 0 for t in listeners)
    fidgeting = [
        t
        for t in tracks
        if t["fidgets"] == "1" and int(t["end_frame"]) - int(t["first_frame"]) > 40
    ]
    moved = 0
    for track in fidgeting:
        plan = plan_video(TINY, int(track["video_id"][-3:]))
        if not plan.in_sync:
            continue
        frames, _ = decode(corpus / "videos" / f"{plan.video_id}.mp4")
        darkness = mouth_darkness(plan, frames)[track["entity_id"]]
        rows = [r for r in read_annotations(corpus, plan.video_id) if r[7] == track["entity_id"]]
        quiet = np.asarray([r[6] == NOT_SPEAKING for r in rows])
        # Chewing or smiling while labelled NOT_SPEAKING: the mouth moves a visible amount.
        moved += bool(darkness[quiet].std() > 2.0)
    assert moved >= 1


def test_default_corpus_plan_has_200_tracks_and_the_desync_share():
    config = AVSampleConfig()
    plans = plan_corpus(config)
    assert sum(len(p.tracks) for p in plans) >= 200
    assert [p.desync for p in plans].count(IN_SYNC) == 37  # 7 of 44 (15 %) out of sync
    for plan in plans:
        assert config.min_faces <= len(plan.cast) <= config.max_faces
        assert 6.0 <= plan.seconds <= 10.0
        assert any(p.speaker for p in plan.cast)
        assert len(plan.articulation) == len(plan.utterances)
        assert {t.entity_id for t in plan.tracks} == {
            f"{plan.video_id}:{k}" for k in range(len(plan.tracks))
        }
        # One, sometimes two, speak at a time; nobody overlaps themselves.
        times = np.arange(plan.frames) / plan.fps
        talking = np.zeros((len(plan.cast), plan.frames), int)
        for u in plan.utterances:
            talking[u.speaker] += (times >= u.start) & (times < u.end)
        assert talking.max() <= 1 and talking.sum(axis=0).max() <= 2
        voices = sorted(p.voice.f0 for p in plan.cast)
        assert all(90.0 <= f0 <= 250.0 for f0 in voices)


def test_corpus_is_deterministic_and_cached(tmp_path, monkeypatch):
    config = dataclasses.replace(TINY, videos=2, min_seconds=2.0, max_seconds=2.0)
    first = make_av_corpus(tmp_path / "a", config)
    second = make_av_corpus(tmp_path / "b", config, workers=2)

    def digest(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(first) == digest(second)
    stamp = (first / "_corpus.json").stat().st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("a cached corpus was rebuilt")

    import crossmodal_ray.pipelines.sample_corpus.av.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "write_video", no_rebuild)
    assert make_av_corpus(first, config) == first
    assert (first / "_corpus.json").stat().st_mtime_ns == stamp
    monkeypatch.undo()
    other = dataclasses.replace(config, seed=1)
    make_av_corpus(first, other)
    assert json.loads((first / "_corpus.json").read_text())["config"]["seed"] == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a corpus")
    with pytest.raises(FileExistsError):
        make_av_corpus(tmp_path / "mine", config)


def test_job_prints_counts_and_reuses_the_corpus(tmp_path, capsys):
    job = load_job("make_av_corpus")
    argv = [
        "--out",
        str(tmp_path / "av"),
        "--videos",
        "2",
        "--min-seconds",
        "2",
        "--max-seconds",
        "2.5",
        "--desync-share",
        "0.5",
    ]
    summary = job.main(argv)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("[sample] 1/2 videos written")
    assert json.loads(lines[-1]) == summary
    assert summary["videos"] == 2 and not summary["cached"]
    assert summary["tracks"] == len(read_table(tmp_path / "av" / SYNC_LABELS))
    assert sum(summary["labels"].values()) == sum(
        len(read_annotations(tmp_path / "av", f"av_sample_{i:03d}")) for i in range(2)
    )
    assert summary["desync_videos"] == {IN_SYNC: 1, DUBBED: 0, SHIFTED: 1}
    assert job.main(argv)["cached"]


def test_encoding_is_deterministic_and_keeps_the_colours(tmp_path):
    """The same frames give the same bytes whatever the process did before (with PyAV's own
    rgb24 -> yuv420p conversion or x264's assembly they did not), and the decoded colours are
    the drawn ones."""
    plan = plan_video(TINY, 0)
    frames = list(render_frames(plan, TINY))[:40]
    audio = make_soundtrack(plan, TINY)
    digests = []
    for k in range(2):
        garbage = [np.frombuffer(np.random.default_rng(k).bytes(1 << 16), np.uint8).copy()]
        garbage += [frame.tobytes() * 3 for frame in frames]
        del garbage  # freed memory with other contents, where the encoder's buffers may land
        if k:
            decode(tmp_path / "0.mp4")  # a decode in between changed x264's output with asm
        path = tmp_path / f"{k}.mp4"
        write_mp4(path, iter(frames), audio, TINY.fps, TINY.sample_rate)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    decoded, _ = decode(tmp_path / "0.mp4")
    grey = [np.dot(f.astype(np.float32), [0.299, 0.587, 0.114]) for f in frames]
    assert np.abs(decoded[10] - grey[10]).mean() < 2.0
    yuv = rgb_to_yuv420p(frames[5])
    reference = av.VideoFrame.from_ndarray(frames[5], format="rgb24").reformat(format="yuv420p")
    difference = np.abs(yuv.astype(int) - reference.to_ndarray())
    assert difference[:144].max() <= 1  # luma: the same BT.601 conversion as swscale's
    assert difference[144:].mean() < 1.0  # chroma: a box filter, not swscale's, at the edges


@pytest.mark.parametrize(
    "bad",
    [
        {"videos": 0},
        {"min_seconds": 5.0, "max_seconds": 4.0},
        {"sample_rate": 16001},
        {"width": 191},
        {"height": 142},
        {"min_faces": 3, "max_faces": 2},
        {"desync_share": 1.5},
        {"min_shift_seconds": 0.0},
        {"min_f0": 300.0, "max_f0": 200.0},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        AVSampleConfig(**bad)
