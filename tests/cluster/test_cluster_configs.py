"""The cluster definitions in cluster/ are valid and match the project (fast, no cluster).

- Launcher YAMLs (aws, gcp, local) pass the schema check that ``ray up`` applies, with the
  schema the pinned Ray wheel ships; aws and gcp also go through ``prepare_config`` (merging
  Ray's provider defaults, which needs no cloud credentials) and validate again.
- Every image is Ray's (or built from Ray's) at the version pyproject.toml pins.
- Heads run no tasks, worker types start at 0, the project is installed the README way
  (``make env``), token authentication stays on.
- KubeRay manifests carry the fields the ray.io/v1 CRDs require (no CRD schema package is
  available offline, so the fields are checked one by one).
"""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config
from repo_paths import REPO_ROOT

CLUSTER = REPO_ROOT / "cluster"
CLOUD_CONFIGS = ("aws", "gcp")
LAUNCHER_CONFIGS = (*CLOUD_CONFIGS, "local")
KUBERAY_MANIFESTS = ("raycluster.yaml", "rayjob-train-mbsl.yaml")


def pinned_ray_version() -> str:
    """The X.Y.Z of ``ray[...]==X.Y.Z`` in pyproject.toml's dependencies."""
    match = re.search(
        r'"ray\[[^\]]*\]==(\d+\.\d+\.\d+)"', (REPO_ROOT / "pyproject.toml").read_text()
    )
    assert match, "pyproject.toml pins no ray[...]==X.Y.Z"
    return match.group(1)


PINNED_RAY = pinned_ray_version()


def load_launcher(name: str) -> dict:
    return yaml.safe_load((CLUSTER / f"{name}.yaml").read_text())


def head_and_workers(config: dict) -> tuple[dict, dict]:
    types = dict(config["available_node_types"])
    head = types.pop(config["head_node_type"])
    return head, types


def images_in(node: object) -> list[str]:
    """Every value of an ``image``/``head_image``/``worker_image`` key, at any depth."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("image", "head_image", "worker_image") and isinstance(value, str):
                found.append(value)
            else:
                found += images_in(value)
    elif isinstance(node, list):
        for item in node:
            found += images_in(item)
    return found


def test_pinned_ray_is_the_installed_ray():
    import ray

    assert ray.__version__ == PINNED_RAY


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_passes_rays_schema(name):
    validate_config(load_launcher(name))


def test_schema_check_is_live():
    # A float resource count is what the schema forbids (integers only): the check must fail.
    broken = load_launcher("aws")
    broken["available_node_types"]["cpu_spot"]["resources"]["CPU"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        validate_config(broken)


@pytest.mark.parametrize("name", CLOUD_CONFIGS)
def test_cloud_config_prepares_offline_and_still_validates(name):
    prepared = prepare_config(copy.deepcopy(load_launcher(name)))
    validate_config(prepared)
    head, workers = head_and_workers(prepared)
    assert head["max_workers"] == 0
    # The global cap is what binds: each type's max fits under it together.
    assert sum(w["max_workers"] for w in workers.values()) <= prepared["max_workers"]


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_head_runs_no_tasks_and_workers_start_at_zero(name):
    config = load_launcher(name)
    head, workers = head_and_workers(config)
    assert head["resources"].get("CPU") == 0
    assert workers, "no worker node type"
    for worker_name, worker in workers.items():
        assert worker["min_workers"] == 0, worker_name
        assert worker["max_workers"] >= 1, worker_name
        assert worker["resources"].get("CPU", 0) >= 1, worker_name
    assert config["idle_timeout_minutes"] > 0
    assert config["upscaling_speed"] > 0
    if name in CLOUD_CONFIGS:
        # The resources above only inform the autoscaler; `ray start` decides what the head has.
        start = " ".join(config["head_start_ray_commands"])
        assert "--head" in start and "--num-cpus=0" in start


@pytest.mark.parametrize("name", CLOUD_CONFIGS)
def test_cloud_node_types(name):
    config = load_launcher(name)
    _, workers = head_and_workers(config)
    gpu_types = {k: w for k, w in workers.items() if w["resources"].get("GPU")}
    cpu_types = {k: w for k, w in workers.items() if not w["resources"].get("GPU")}
    assert len(gpu_types) == 1 and len(cpu_types) == 1, list(workers)
    (gpu,) = gpu_types.values()
    (cpu,) = cpu_types.values()
    assert gpu["resources"]["GPU"] == 8
    assert gpu["docker"]["worker_image"].endswith("-gpu")
    if name == "aws":
        assert cpu["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
        assert gpu["node_config"]["InstanceType"] == "p4d.24xlarge"
    else:
        assert cpu["node_config"]["scheduling"]["preemptible"] is True
        assert gpu["node_config"]["machineType"] == "a2-highgpu-8g"
        accelerators = gpu["node_config"]["guestAccelerators"]
        assert sum(a["acceleratorCount"] for a in accelerators) == 8


@pytest.mark.parametrize("name", CLOUD_CONFIGS)
def test_cloud_images_are_the_pinned_ray(name):
    config = load_launcher(name)
    images = images_in(config)
    assert len(images) >= 2, images  # the CPU image and the GPU node type's image
    for image in images:
        repository, tag = image.rsplit(":", 1)
        assert repository == "rayproject/ray", image
        assert tag.startswith(f"{PINNED_RAY}-py311"), image


@pytest.mark.parametrize("name", CLOUD_CONFIGS)
def test_cloud_setup_installs_the_project_the_readme_way(name):
    config = load_launcher(name)
    project_dirs = [remote for remote, local in config["file_mounts"].items() if local == "."]
    assert len(project_dirs) == 1, config["file_mounts"]
    project_dir = project_dirs[0].replace("/home/ray", "~")
    commands = config["setup_commands"]
    assert any(re.search(rf"cd {re.escape(project_dir)} && make env\b", c) for c in commands), (
        commands
    )
    # `make env` is the README's install: pip with the constraints, editable, dev extras.
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert '-m pip install -q -c constraints.txt -e ".[dev]"' in makefile
    assert ".venv" in config["rsync_exclude"]  # the laptop's venv never lands on a node


@pytest.mark.parametrize("name", CLOUD_CONFIGS)
def test_cloud_token_auth_stays_on(name):
    config = load_launcher(name)
    text = (CLUSTER / f"{name}.yaml").read_text()
    assert "RAY_AUTH_MODE=disabled" not in text
    for command in (*config["head_start_ray_commands"], *config["worker_start_ray_commands"]):
        if "ray start" in command:
            assert "RAY_AUTH_MODE=token" in command, command
    # Every node gets the same token as the machine that submits jobs.
    assert config["file_mounts"].get("/home/ray/.ray/auth_token") == "~/.ray/auth_token"
    assert "/mnt/shared" in " ".join(config["initialization_commands"])
    assert "-v /mnt/shared:/mnt/shared" in config["docker"]["run_options"]


def test_local_config_is_for_the_fake_provider():
    config = load_launcher("local")
    assert config["provider"]["type"] == "fake_multinode"
    # The fake provider tags the head node with this name; any other head type never matches.
    assert config["head_node_type"] == "ray.head.default"
    assert config["provider"]["gcs_address"].startswith("127.0.0.1:")
    assert config["idle_timeout_minutes"] <= 1  # the slow test waits for the scale-down


def load_kuberay(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((CLUSTER / "kuberay" / name).read_text()) if doc]


def check_container_image(image: str) -> None:
    # Ours (cluster/kuberay/Dockerfile on top of rayproject/ray) or Ray's, at the pinned Ray.
    tag = image.rsplit(":", 1)[1]
    assert tag.startswith(f"{PINNED_RAY}-py311"), image


def check_ray_cluster_spec(spec: dict) -> None:
    """The fields KubeRay's RayCluster CRD (ray.io/v1) needs, and this project's choices."""
    assert spec["rayVersion"] == PINNED_RAY
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # rayStartParams values are strings
    head_containers = head["template"]["spec"]["containers"]
    check_container_image(head_containers[0]["image"])
    groups = spec["workerGroupSpecs"]
    assert {g["groupName"] for g in groups} == {"cpu", "gpu"}
    for group in groups:
        assert group["minReplicas"] == 0
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert isinstance(group["rayStartParams"], dict)
        containers = group["template"]["spec"]["containers"]
        assert containers and all(c["name"] and c["image"] for c in containers)
        check_container_image(containers[0]["image"])
        resources = containers[0]["resources"]
        assert resources["requests"] and resources["limits"]
        if group["groupName"] == "gpu":
            assert resources["limits"]["nvidia.com/gpu"] == 8
            assert containers[0]["image"].endswith("-gpu")
    # Every Ray pod mounts the shared PVC and runs with token authentication.
    for template in [head["template"]] + [g["template"] for g in groups]:
        pod = template["spec"]
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert claims == ["crossmodal-shared"]
        container = pod["containers"][0]
        assert {"name": "shared", "mountPath": "/mnt/shared"} in container["volumeMounts"]
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]


def test_kuberay_raycluster():
    docs = load_kuberay("raycluster.yaml")
    clusters = [d for d in docs if d["kind"] == "RayCluster"]
    assert len(clusters) == 1
    cluster = clusters[0]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["metadata"]["name"]
    check_ray_cluster_spec(cluster["spec"])
    claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert [c["metadata"]["name"] for c in claims] == ["crossmodal-shared"]
    assert claims[0]["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod writes


def test_kuberay_rayjob_trains_mbsl_on_its_own_cluster():
    (job,) = load_kuberay("rayjob-train-mbsl.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["metadata"]["name"]
    spec = job["spec"]
    entrypoint = spec["entrypoint"].split()
    assert entrypoint[:2] == ["python", "jobs/train_mbsl.py"]
    for flag in ("--shards-dir", "--storage-path", "--num-workers", "--use-gpu"):
        assert flag in entrypoint, flag
    assert entrypoint[entrypoint.index("--num-workers") + 1] == "8"
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] > 0
    check_ray_cluster_spec(spec["rayClusterSpec"])
    # The GPU group must hold the 8 trainers: 8 GPUs per pod x maxReplicas >= --num-workers.
    gpu = next(g for g in spec["rayClusterSpec"]["workerGroupSpecs"] if g["groupName"] == "gpu")
    gpus = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert gpus * gpu["maxReplicas"] >= 8
    check_container_image(spec["submitterPodTemplate"]["spec"]["containers"][0]["image"])


def test_kuberay_image_is_built_on_the_pinned_ray():
    dockerfile = (CLUSTER / "kuberay" / "Dockerfile").read_text()
    assert f"ARG BASE=rayproject/ray:{PINNED_RAY}-py311\n" in dockerfile
    assert 'pip install --no-cache-dir -q -c constraints.txt -e ".[dev]"' in dockerfile
    # Everything the install reads is in the image (setup.py maps the folders to crossmodal_ray).
    copied = " ".join(line for line in dockerfile.splitlines() if line.startswith("COPY"))
    for needed in (
        "pyproject.toml",
        "setup.py",
        "constraints.txt",
        "pipelines",
        "models",
        "training",
        "jobs",
    ):
        assert needed in copied, needed
    for name in KUBERAY_MANIFESTS:
        for image in images_in(load_kuberay(name)):
            check_container_image(image)
