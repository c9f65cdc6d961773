"""deploy/kubernetes (issue 16): every manifest against the Kubernetes schemas (kubernetes-validate ships them,
so this runs offline), the overlays as kustomize renders them (when kubectl is installed), the profiles
ConfigMap against profiles/, the containers' commands against the compose file's, and the CI overlay's Job and
worker commands run as processes on loopback: the master's exit code is fixload's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support import free_port
from tests.surfacekit import REPO, Process, child_env, scaled_profile
from tests.test_compose import _argv, _compose, _localize

yaml = pytest.importorskip("yaml", reason="PyYAML reads the manifests (pip install -e '.[test]')")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate checks the manifests (pip install -e '.[test]')"
)

KUBE = REPO / "deploy" / "kubernetes"
OVERLAYS = ("ui", "ci")
EXIT_CODES = {"passed": 0, "thresholds_failed": 99}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _manifests() -> list[Path]:
    return sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")


def _validate(doc: dict[str, Any], where: str) -> None:
    try:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{where}: {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {exc.path}") from exc


def _render(overlay: str) -> dict[tuple[str, str], dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlays are rendered with `kubectl kustomize`")
    done = subprocess.run(
        [kubectl, "kustomize", str(KUBE / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout) if d}


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return container


# ------------------------------------------------------------------------------------------ schemas
def test_every_manifest_validates_against_the_kubernetes_schemas():
    manifests = _manifests()
    assert len(manifests) >= 5, manifests
    for path in manifests:
        for doc in _documents(path):
            _validate(doc, str(path.relative_to(REPO)))


def test_validation_catches_a_bad_manifest():
    """Strict validation rejects an unknown field, so the test above can fail."""
    (doc,) = _documents(KUBE / "base" / "worker.yaml")
    _container(doc)["envFrom"][0]["secretRefs"] = {"name": "x"}
    with pytest.raises(AssertionError, match="secretRefs"):
        _validate(doc, "worker.yaml")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_render_and_validate(overlay):
    rendered = _render(overlay)
    master_kind = "Deployment" if overlay == "ui" else "Job"
    assert set(rendered) == {
        ("ConfigMap", "fixload-profiles"),
        ("Service", "fixload-master"),
        ("Deployment", "fixload-worker"),
        (master_kind, "fixload-master"),
    }
    for doc in rendered.values():
        _validate(doc, f"overlays/{overlay}")
    service, master = rendered[("Service", "fixload-master")], rendered[(master_kind, "fixload-master")]
    worker = rendered[("Deployment", "fixload-worker")]
    pod_labels = master["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()  # the Service finds the master's pod
    assert {p["port"] for p in service["spec"]["ports"]} == {5557, 8089, 9646}
    args = _container(worker)["args"]
    assert args[args.index("--master-host") + 1] == service["metadata"]["name"]
    for doc in (master, worker):
        container = _container(doc)
        assert container["envFrom"] == [{"secretRef": {"name": "fixload-target"}}]  # tokens and ids
        assert container["image"] == "fixload:local"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/work/profiles"] == "profiles"
    if overlay == "ci":
        assert master["spec"]["backoffLimit"] == 0
        assert master["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        margs = _container(master)["args"]
        assert "--headless" in margs
        assert int(margs[margs.index("--expect-workers") + 1]) == worker["spec"]["replicas"] == 4


def test_profiles_configmap_is_profiles_dir():
    (doc,) = _documents(KUBE / "base" / "profiles.yaml")
    assert doc["data"] == {p.name: p.read_text() for p in sorted((REPO / "profiles").glob("*.json"))}


# ------------------------------------------------------------------------------------------ commands
def _without_env_file(argv: list[str]) -> list[str]:
    """The compose argv without --env-file (Kubernetes passes the Secret as environment variables)."""
    i = argv.index("--env-file")
    return argv[:i] + argv[i + 2 :]


def test_containers_run_the_compose_commands():
    services = _compose()["services"]
    (ui_master,) = _documents(KUBE / "overlays" / "ui" / "master.yaml")
    (ci_master,) = _documents(KUBE / "overlays" / "ci" / "master-job.yaml")
    (worker,) = _documents(KUBE / "base" / "worker.yaml")
    assert _container(ui_master)["args"] == _without_env_file(_argv(services["master"], {}))
    assert _container(ci_master)["args"] == _container(ui_master)["args"] + ["--headless", "--expect-workers", "4"]
    compose_worker = _argv(services["worker"], {})
    locust = compose_worker[compose_worker.index("locust") :]
    locust[locust.index("--master-host") + 1] = "fixload-master"
    assert _container(worker)["args"] == _without_env_file(locust)
    # the Job's pod is the Deployment's pod, but for restartPolicy and the headless arguments
    ui_spec, ci_spec = dict(ui_master["spec"]["template"]["spec"]), dict(ci_master["spec"]["template"]["spec"])
    assert ci_spec.pop("restartPolicy") == "Never"
    (ui_container,), (ci_container,) = ui_spec.pop("containers"), ci_spec.pop("containers")
    assert ui_spec == ci_spec
    assert {k: v for k, v in ui_container.items() if k != "args"} == {
        k: v for k, v in ci_container.items() if k != "args"
    }


@pytest.mark.slow  # ~15 s; the commands equal the compose ones (checked fast above), which test_compose runs
def test_ci_job_and_workers_as_processes(simulator, tmp_path):
    """The CI Job's master and two workers (the Deployment scaled to 2, --expect-workers patched to match), their
    argv as written, the Secret as environment variables: the master's exit code is fixload's, the summary has
    both workers and started + dropped == scheduled."""
    (job,) = _documents(KUBE / "overlays" / "ci" / "master-job.yaml")
    (deployment,) = _documents(KUBE / "base" / "worker.yaml")
    for sub in ("profiles", "reports"):
        (tmp_path / sub).mkdir()
    profile = scaled_profile(tmp_path / "profiles", 15.0, name="baseline.json")
    paths = {"/work/profiles/": f"{tmp_path}/profiles/", "/work/reports/": f"{tmp_path}/reports/"}
    ports = {"5557": str(free_port()), "8089": str(free_port()), "9646": str(free_port())}
    hosts = {"0.0.0.0": "127.0.0.1", "fixload-master": "127.0.0.1"}
    master_args = _localize(_container(job)["args"], paths, ports, hosts)
    master_args[master_args.index("--expect-workers") + 1] = "2"
    worker_args = _localize(_container(deployment)["args"], paths, ports, hosts)
    env = child_env(simulator.env)  # envFrom: the fixload-target Secret's keys
    procs: list[Process] = []
    try:
        master = Process(master_args, env, tmp_path, "master")
        procs.append(master)
        procs += [Process(worker_args, env, tmp_path, f"worker-{i}") for i in range(2)]
        code = master.wait(timeout=90)
        worker_codes = [p.wait(timeout=30) for p in procs[1:]]
    finally:
        for proc in reversed(procs):
            proc.stop()
    summary = orjson.loads((tmp_path / "reports" / "summary.json").read_bytes())["fixload"]
    assert summary["status"] in EXIT_CODES, (summary["status"], summary["reason"], master.output()[-3000:])
    assert code == EXIT_CODES[summary["status"]], master.output()[-3000:]
    assert summary["workers"]["count"] == 2 and summary["workers"]["lost"] == 0
    assert worker_codes == [0, 0]
    for name, rollup in summary["scenarios"].items():
        if rollup.get("scheduled") is not None:
            assert rollup["started"] + rollup["dropped"] == rollup["scheduled"], name
        assert rollup["completed"] > 0, name
    assert profile.exists()
