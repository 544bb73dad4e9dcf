"""A killed worker or a killed driver loses no training work, for every system.

Each system (MBSL, VG-BERT, COOLANT, SyncTalkNet) trains on one tiny corpus, generated and
ingested once per module, with 2 workers, a checkpoint every 2 steps and a test-only sleep per
step, so that the fault lands mid-run:

- worker kill, through the training entry point (``training.trainer.run_training``) with the
  system's task, training rows and validation datasets built as its job builds them: rank 1's
  process is SIGKILLed once Ray Train has registered a checkpoint. Ray Train restarts the
  worker group from that checkpoint (``max_failures``); the run finishes with the steps of its
  plan (epochs x steps per epoch: what an undisturbed run trains), its result names the step it
  resumed from, and its best validated checkpoint loads into the system's model. (Not the whole
  job: a third job run per system would take the module past its time budget; the job's
  wiring of the same flags is what the driver test runs.)
- driver kill: ``python jobs/train_<system>.py ...`` runs as its own process, joined to the
  session's Ray as a ``ray job submit`` driver joins a cluster, and is SIGKILLed once a
  checkpoint is registered (Ray then ends the job's workers). The same job with the same
  flags, run again (here in this process), resumes from that checkpoint (its log line and its
  JSON say so), finishes with the planned steps and prints its JSON line.

VG-BERT: the killed worker hits stage 2 (grounding: objects and relations), the killed driver
stage 1 (word-region alignment) run alone (``--stage2-epochs 0``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from job_loader import load_job
from repo_paths import REPO_ROOT
from worker_kill import run_and_kill_rank1, wait_for_registered_checkpoint

from crossmodal_ray.training.run_checkpoints import latest_checkpoint_state

STEP_SLEEP_S = 0.4
RUN_NAME = "faulted"
EPOCHS = 2
# Both faults' runs: 2 workers, small blocks, a checkpoint every 2 steps, restarts allowed.
LOOP_CONFIG = dict(
    num_workers=2,
    checkpoint_every_steps=2,
    max_failures=2,
    log_every_steps=1000,
    warmup_steps=0,
    order_block_rows=8,
    shuffle_buffer_rows=8,
)
LOOP_FLAGS = (
    "--run-name", RUN_NAME, "--epochs", str(EPOCHS),
    *(f"--{key.replace('_', '-')}={value}" for key, value in LOOP_CONFIG.items()),
)  # fmt: skip


@dataclass(frozen=True)
class SystemJob:
    """One system on its tiny corpus.

    Attributes:
        job: ``jobs/<job>.py``.
        flags: The job's flags (data folders included, ``--storage-path`` left out).
        run: The Ray Train run of the job that the killed driver hits (under
            ``--storage-path``).
        steps: Where the job's JSON holds that run's trained steps.
        resumed: Where it holds the step that run resumed from (0: from scratch).
        training: The system's training as the job starts it: its task, training rows and
            validation datasets (``run_training``'s arguments besides the loop config).
        batch_size: Rows per worker and step of both runs.
    """

    job: str
    flags: tuple[str, ...]
    run: str
    steps: tuple[str, ...]
    resumed: tuple[str, ...]
    training: Callable[[], tuple[Any, Any, dict]]
    batch_size: int

    def argv(self, storage: Path) -> list[str]:
        return [
            *self.flags, *LOOP_FLAGS, "--storage-path", str(storage),
            "--batch-size-per-worker", str(self.batch_size),
        ]  # fmt: skip


def _mbsl(root: Path) -> SystemJob:
    from crossmodal_ray.pipelines.physio.prepare import PhysioCorpusConfig, prepare_physio_corpus
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus
    from crossmodal_ray.training.tasks import mbsl_experiment as experiment
    from crossmodal_ray.training.tasks.mbsl import MBSLPretrainTask
    from crossmodal_ray.training.tasks.mbsl_validation import validation_datasets

    raw = make_physio_wfdb_corpus(
        root / "raw" / "tiny", PhysioSimulationConfig(n_subjects=4, duration_s=60)
    )
    shards = str(root / "shards")
    corpus, manifest = prepare_physio_corpus(
        PhysioCorpusConfig(shards_dir=shards, raw_dir=str(raw)), log=print
    )

    def training():  # as run_mbsl_experiment starts pretraining
        splits = experiment.split_datasets(shards, corpus)
        grouping = experiment.fit_grouping(splits["train"], manifest, None, 256)
        config = experiment.build_model_config("small", {}, manifest, grouping)
        rows = manifest["splits"]["train"]["rows"]
        validation = validation_datasets(splits["train"], rows, splits["val"], 256)
        task = MBSLPretrainTask(config.to_dict(), grouping.to_dict())
        return task, splits["train"], validation

    flags = (
        "--raw-dir", str(raw), "--shards-dir", shards, "--finetune-epochs", "0",
        "--grouping-windows", "256", "--probe-train-rows", "256",
    )  # fmt: skip
    return SystemJob(
        "train_mbsl",
        flags,
        RUN_NAME,
        ("pretrain_steps",),
        ("pretrain_resumed_from_step",),
        training,
        batch_size=4,
    )


def _vgbert(root: Path) -> SystemJob:
    """Stage 1 (word-region alignment) for the killed driver, alone (``--stage2-epochs 0``);
    stage 2 (grounding: objects and relations) for the killed worker."""
    from crossmodal_ray.models.vgbert.config import VGBERTConfig
    from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig
    from crossmodal_ray.pipelines.core.shard_reader import read_split
    from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
        ImageTextSampleConfig,
        make_image_text_corpus,
    )
    from crossmodal_ray.training.tasks.vgbert_grounding import VGBERTGroundingTask
    from crossmodal_ray.training.tasks.vgbert_vocabulary import grounding_vocabulary

    raw = make_image_text_corpus(
        root / "raw", ImageTextSampleConfig(train_images=48, val_images=12, image_size=64)
    )
    job = load_job("train_vgbert")
    data = job.VGBERTRunFlags(
        raw_dir=str(raw / "visual_genome"), format="visual_genome", shards_dir=str(root / "shards")
    )
    (corpus, _), _ = job.prepare_corpora(data, image_size=64)

    def training():  # as run_grounding_experiment starts stage 2 (streams untrained here)
        splits = {s: read_split(data.shards_dir, corpus, s) for s in ("train", "val")}
        grounding = GroundingConfig()
        vocabulary = grounding_vocabulary(
            splits["train"], grounding.max_object_classes, grounding.max_predicates
        )
        grounding = dataclasses.replace(
            grounding, object_classes=vocabulary.object_classes, predicates=vocabulary.predicates
        )
        config = VGBERTConfig.small(image_size=64)
        task = VGBERTGroundingTask(config.to_dict(), grounding.to_dict(), init_checkpoint="")
        return task, splits["train"], {"val": splits["val"]}

    flags = (
        "--raw-dir", data.raw_dir, "--format", data.format, "--shards-dir", data.shards_dir,
        "--stage2-epochs", "0",
    )  # fmt: skip
    return SystemJob(
        "train_vgbert", flags, RUN_NAME, ("steps",), ("resumed_from_step",), training, 8
    )


def _coolant(root: Path) -> SystemJob:
    from crossmodal_ray.models.coolant.config import CoolantConfig
    from crossmodal_ray.pipelines.core.shard_reader import read_split
    from crossmodal_ray.pipelines.sample_corpus.news.config import NewsSampleConfig
    from crossmodal_ray.pipelines.sample_corpus.news.corpus import make_news_corpus
    from crossmodal_ray.training.run_checkpoints import corpus_identity
    from crossmodal_ray.training.tasks.coolant import CoolantTask
    from crossmodal_ray.training.tasks.coolant_collate import NEWS_COLUMNS, TEXT_FEATURES
    from crossmodal_ray.training.tasks.coolant_text_features import with_text_features

    raw = make_news_corpus(
        root / "raw",
        NewsSampleConfig(mediaeval_posts=160, mediaeval_events=12, weibo_posts=40, weibo_events=4),
    )
    job = load_job("train_coolant")
    data = job.CoolantRunFlags(
        raw_dir=str(raw / "mediaeval"), split_by="event", shards_dir=str(root / "shards")
    )
    corpus, manifest = job.prepare_corpus(data, image_size=48)

    def training():  # as run_coolant_experiment starts the "coolant" variant
        config = CoolantConfig.small()
        splits = {s: read_split(data.shards_dir, corpus, s) for s in ("train", "val")}
        splits = with_text_features(splits, config.resolved_text_model(), config.max_words, 2)
        task = CoolantTask(
            config.to_dict(),
            columns=NEWS_COLUMNS + (TEXT_FEATURES,),
            corpus_id=corpus_identity(manifest),
        )
        return task, splits["train"], {"val": splits["val"]}

    flags = (
        "--raw-dir", data.raw_dir, "--split-by", data.split_by, "--shards-dir", data.shards_dir,
        "--variants", "coolant",
    )  # fmt: skip
    return SystemJob(
        "train_coolant",
        flags,
        f"{RUN_NAME}_coolant",
        ("variants", "coolant", "steps"),
        ("variants", "coolant", "resumed_from_step"),
        training,
        batch_size=8,
    )


def _synctalknet(root: Path) -> SystemJob:
    from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig
    from crossmodal_ray.pipelines.core.shard_reader import read_split
    from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig
    from crossmodal_ray.pipelines.sample_corpus.av.corpus import make_av_corpus
    from crossmodal_ray.training.run_checkpoints import corpus_identity
    from crossmodal_ray.training.tasks.synctalknet import SyncTalkNetTask
    from crossmodal_ray.training.tasks.synctalknet_experiment import VARIANTS

    raw = make_av_corpus(root / "raw", AVSampleConfig(videos=8, min_seconds=3.0, max_seconds=4.0))
    job = load_job("train_synctalknet")
    data = job.SyncTalkNetRunFlags(
        raw_dir=str(raw), shards_dir=str(root / "shards"), val_fraction=0.25, test_fraction=0.25
    )
    corpus, manifest, mfcc = job.prepare_corpus(data, frame_size=48)

    def training():  # as run_synctalknet_experiment starts the "synctalknet" variant
        train = read_split(data.shards_dir, corpus, "train")
        config = SyncTalkNetConfig.small(**VARIANTS["synctalknet"])
        task = SyncTalkNetTask(
            config.to_dict(),
            silence_mfcc=[float(v) for v in job.silence_mfcc(mfcc)],
            corpus_id=corpus_identity(manifest),
        )
        in_sync = train.filter(lambda row: bool(row["in_sync"]))
        return task, in_sync, {"val": read_split(data.shards_dir, corpus, "val")}

    flags = (
        "--raw-dir", data.raw_dir, "--shards-dir", data.shards_dir,
        "--val-fraction", "0.25", "--test-fraction", "0.25", "--variants", "synctalknet",
    )  # fmt: skip
    return SystemJob(
        "train_synctalknet",
        flags,
        f"{RUN_NAME}_synctalknet",
        ("variants", "synctalknet", "steps"),
        ("variants", "synctalknet", "resumed_from_step"),
        training,
        batch_size=2,
    )


SYSTEMS: dict[str, Callable[[Path], SystemJob]] = {
    "mbsl": _mbsl,
    "vgbert_grounding": _vgbert,
    "coolant": _coolant,
    "synctalknet": _synctalknet,
}


@pytest.fixture(scope="module", params=list(SYSTEMS))
def system(request, ray_session, tmp_path_factory) -> SystemJob:
    """The system's tiny corpus, generated and ingested once for both of its tests."""
    return SYSTEMS[request.param](tmp_path_factory.mktemp(request.param))


def _value(result: dict, path: tuple[str, ...]):
    for key in path:
        result = result[key]
    return result


def _planned_steps(storage_path: Path, run: str) -> int:
    """Epochs x steps per epoch of the run's plan (what an undisturbed run trains: the driver
    sizes the plan from the training rows before the first step), from its last checkpoint,
    which must hold exactly that many steps."""
    state = latest_checkpoint_state(str(storage_path), run)
    assert state is not None, f"run {run} has no checkpoint under {storage_path}"
    planned = int(state["loop"]["epochs"]) * int(state["data_order"]["steps_per_epoch"])
    assert state["global_step"] == planned
    return planned


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_killed_worker_resumes_from_its_checkpoint_and_the_run_finishes(system, tmp_path):
    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.trainer import load_best_weights, run_training

    storage, pids = tmp_path / "runs", tmp_path / "pids"
    loop = TrainLoopConfig(
        run_name="worker_killed",
        storage_path=str(storage),
        epochs=EPOCHS,
        batch_size_per_worker=system.batch_size,
        **LOOP_CONFIG,
        fault_injection_pid_dir=str(pids),
        fault_injection_step_sleep_s=STEP_SLEEP_S,
    )
    task, train, validation = system.training()
    result = run_and_kill_rank1(
        lambda: run_training(task, loop, train, validation), storage / loop.run_name, pids
    )
    assert result.error is None
    planned = _planned_steps(storage, loop.run_name)
    assert result.metrics["global_step"] == planned
    # The restarted workers loaded a checkpoint instead of starting over.
    assert 0 < result.metrics["resumed_from_step"] < planned
    assert len((pids / "rank1.pid").read_text().split()) == 2  # rank 1 ran twice
    # What the job evaluates next: the best validated checkpoint, loaded into the model.
    location = load_best_weights(result, task, task.build_model(), str(storage))
    assert "_epoch" in Path(location).name  # an epoch-end (validated) checkpoint


def _driver_command(argv: list[str], job: str, pids: Path, address: str) -> list[str]:
    """``python jobs/<job>.py ARGV --address ADDRESS`` with the test-only step sleep."""
    bootstrap = (
        "import runpy, sys\n"
        "from pathlib import Path\n"
        "from worker_kill import fault_injected_runs\n"
        "job, pids, sleep = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])\n"
        "sys.argv = [job, *sys.argv[4:]]\n"
        "with fault_injected_runs(pids, sleep):\n"
        "    runpy.run_path(job, run_name='__main__')\n"
    )
    script = str(REPO_ROOT / "jobs" / f"{job}.py")
    return [
        sys.executable, "-c", bootstrap, script, str(pids), str(STEP_SLEEP_S),
        *argv, "--address", address,
    ]  # fmt: skip


def _wait_until_gone(pid_files: list[Path], timeout_s: float = 60) -> None:
    """Until every process named in ``pid_files`` has exited (Ray ends a dead driver's
    workers)."""
    pids = [int(p) for f in pid_files for p in f.read_text().split()]
    deadline = time.time() + timeout_s
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.time() < deadline, f"workers {pids} outlived their driver"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_driver_resubmitted_resumes_from_its_checkpoint(
    system, ray_session, tmp_path, capsys
):
    storage, pids = tmp_path / "runs", tmp_path / "pids"
    argv = system.argv(storage)
    address = ray_session.get_runtime_context().gcs_address
    first_log = tmp_path / "first_driver.log"
    with open(first_log, "w") as log:
        first = subprocess.Popen(
            _driver_command(argv, system.job, pids, address),
            cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for_registered_checkpoint(
                storage / system.run, 300, running=lambda: first.poll() is None
            )
        except (RuntimeError, TimeoutError) as error:
            pytest.fail(f"{error}\n{first_log.read_text()[-4000:]}")
        finally:
            if first.poll() is None:
                os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=60)
    assert not _json_lines(first_log.read_text()), "the first driver finished before the kill"
    _wait_until_gone(sorted((pids / system.run).glob("rank*.pid")))

    # The same job and flags again (in this process, which joins the same Ray).
    capsys.readouterr()
    result = load_job(system.job).main(argv)
    output = capsys.readouterr().out
    planned = _planned_steps(storage, system.run)
    assert _value(result, system.steps) == planned
    resumed = _value(result, system.resumed)
    assert 0 < resumed < planned, output[-4000:]
    assert f"resumed from checkpoint at step {resumed} " in output
    printed = _json_lines(output)
    assert printed and _value(printed[-1], system.resumed) == resumed
