"""--strategy multiworker for real: two worker processes on 127.0.0.1, one epoch, the chief writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from vae_audio.errors import ConfigError
from vae_audio.training import check_tf_config

SMALL = ["--data", "synth", "--max-clips", "48", "--epochs", "1", "--batch-size", "16", "--sr", "8000",
         "--n-fft", "256", "--hop-length", "128", "--duration", "0.5", "--prior-model", "none", "--n-samples", "2"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_one_epoch_and_only_the_chief_writes(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
               "CUDA_VISIBLE_DEVICES": ""}
        cmd = [sys.executable, "-m", "vae_audio", "train", *SMALL, "--strategy", "multiworker",
               "--out", str(tmp_path / f"run{i}"), "--samples-dir", str(tmp_path / f"samples{i}")]
        procs.append(subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("the two workers did not finish within 5 minutes")
        outputs.append(out)
        assert p.returncode == 0, out[-3000:]
    assert "trained 1 epochs" in outputs[0] and "trained 1 epochs" in outputs[1]
    assert "worker 1: the chief writes the checkpoints" in outputs[1]
    # exactly one bundle, the chief's; the other worker wrote nothing
    assert (tmp_path / "run0" / "model" / "config.json").is_file() and (tmp_path / "run0" / "report.html").is_file()
    assert not (tmp_path / "run1").exists() and not (tmp_path / "samples1").exists()
    from vae_audio.modeling.bundle import load_model
    from vae_audio.modeling.generate import generate_audio

    model = load_model(tmp_path / "run0" / "model")
    audio = generate_audio(model, 2, seed=0)
    assert audio.shape == (2, 4000) and (audio != 0).any()


@pytest.mark.parametrize("text, pattern", [
    (None, "TF_CONFIG environment variable is not set"),
    ("{not json", "TF_CONFIG: not valid JSON"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "names no chief"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "is not one of the cluster's tasks"),
])
def test_bad_tf_config_gets_one_line(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        check_tf_config(text)
    assert check_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')


def test_cli_refuses_a_bad_tf_config_before_any_work(tmp_path, capsys, monkeypatch):
    from vae_audio import cli

    monkeypatch.setenv("TF_CONFIG", "{broken")
    code = cli.main(["train", *SMALL, "--strategy", "multiworker", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "TF_CONFIG: not valid JSON" in err
    assert not (tmp_path / "run").exists()


def _start_workers(tmp_path, args: list[str], ports: list[int]) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(len(ports)):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
               "CUDA_VISIBLE_DEVICES": ""}
        procs.append(subprocess.Popen([sys.executable, "-m", "vae_audio", "train", *args], env=env, cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def _finish(procs, timeout: float = 300) -> list[tuple[int, str]]:
    results = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("a worker did not finish in time")
        results.append((p.returncode, out))
    return results


@pytest.mark.slow
def test_a_worker_killed_mid_run_then_the_cluster_restarts_and_resumes(tmp_path):
    """TensorFlow's fault-tolerance recipe: a worker dies, the other stops, every worker is started
    again with --resume, and training continues from the chief's last checkpoint."""
    import signal
    import time

    out = tmp_path / "shared"  # one --out for both, as on a shared folder
    args = ["--data", "synth", "--max-clips", "96", "--epochs", "12", "--batch-size", "16", "--sr", "8000",
            "--n-fft", "256", "--hop-length", "128", "--duration", "0.5", "--prior-model", "none", "--n-samples", "0",
            "--strategy", "multiworker", "--out", str(out)]
    procs = _start_workers(tmp_path, args, _free_ports(2))
    deadline = time.time() + 240
    while not (out / "checkpoints" / "epoch_0001" / "state.json").exists():
        assert time.time() < deadline and procs[1].poll() is None, "the first epoch never finished"
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGKILL)  # worker 1 dies mid-run
    (code0, out0), (code1, _) = _finish(procs, timeout=240)
    assert code1 == -signal.SIGKILL
    assert code0 == 2, out0[-2000:]  # the chief notices, says what to do, in one line
    assert "the cluster lost a worker" in out0 and "restart every worker with --resume" in out0
    done = json.loads((out / "checkpoints" / "latest.json").read_text())["epoch"]
    assert 1 <= done < 12 and not (out / "model").exists()

    results = _finish(_start_workers(tmp_path, [*args, "--resume"], _free_ports(2)))
    for code, text in results:
        assert code == 0, text[-3000:]
        assert f"Resuming {out} from epoch {done}" in text and "trained 12 epochs" in text
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 12 and all(v == v for v in history["loss"])
    from vae_audio.modeling.bundle import load_model

    assert load_model(out / "model").info["training"]["epochs_run"] == 12
