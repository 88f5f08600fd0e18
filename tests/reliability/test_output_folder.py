"""The output folder (issue 14): a finished run is never destroyed by a failed replacement, two
runs never write one folder, and an unusable folder is one ``error:`` line before training.

The rules these tests pin down are in docs/architecture.md, "The output folder"."""

import errno
import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import REPO

#: what a finished run leaves in its folder
FINISHED = ("log.jsonl", "best.pt", "last.pt", "metrics.json", "test_predictions.jsonl")


@pytest.fixture
def finished_run(count_checkpoint, tmp_path):
    """A copy of a finished tiny count run and the bytes of each of its files."""
    out = tmp_path / "run"
    shutil.copytree(os.path.dirname(count_checkpoint), out)
    return out, snapshot(out)


def snapshot(folder):
    return {f: (folder / f).read_bytes() for f in FINISHED if (folder / f).exists()}


def assert_unchanged(folder, before):
    assert snapshot(folder) == before
    assert sorted(before) == sorted(FINISHED)


def dead_pid():
    """The PID of a process that has exited."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# -- --overwrite ---------------------------------------------------------------------------------


def test_overwrite_with_bad_inputs_keeps_the_previous_run(finished_run, tgif, cli, tmp_path):
    out, before = finished_run
    cases = [
        (["--features", tmp_path / "typo.h5"], "typo.h5"),
        (["--num-scales", "99"], "--num-scales 99 exceeds the 8 frames"),
        (["--data-dir", tmp_path / "nowhere"], "annotation file not found"),
        (["--lr", "-1"], "--lr must be positive"),
    ]
    for extra, expected in cases:
        # the later of two values of a flag wins
        cli.error(cli.train(tgif, out, "--overwrite", *extra), expected, label=str(extra[0]))
        assert_unchanged(out, before)


@pytest.mark.parametrize("failure", ["error", "interrupt"])
def test_overwrite_failing_before_its_first_checkpoint_restores_the_previous_run(
    finished_run, tgif, cli, monkeypatch, failure
):
    from mspan_pyg.training.engine import Trainer

    out, before = finished_run

    def fail(self):
        (out / "log.jsonl").write_text('{"epoch": 1}\n')  # partial output of the new run
        if failure == "interrupt":
            raise KeyboardInterrupt
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "last.pt"))

    monkeypatch.setattr(Trainer, "train_epoch", fail)
    status, _, err = cli.run(cli.train(tgif, out, "--overwrite"))
    assert status == (130 if failure == "interrupt" else 2), err
    assert err.strip().splitlines()[-1].startswith("error: "), err
    assert_unchanged(out, before)
    assert sorted(p for p in os.listdir(out) if p.startswith(".") and p != ".lock") == []


def test_overwrite_replaces_the_run_once_the_new_one_has_a_checkpoint(finished_run, tgif, cli):
    out, before = finished_run
    status, _, err = cli.run(cli.train(tgif, out, "--overwrite", "--seed", "5"))
    assert status == 0, err
    after = snapshot(out)
    assert sorted(after) == sorted(FINISHED) and after["metrics.json"] != before["metrics.json"]
    assert [p for p in os.listdir(out) if p.startswith(".") and p != ".lock"] == []


def test_a_killed_overwrite_is_undone_by_the_next_run(finished_run, tgif, cli):
    """A kill before the new run's first checkpoint leaves the previous run aside in
    ``OUT/.previous-run``; the next run in the folder moves it back."""
    out, before = finished_run
    aside = out / ".previous-run"
    aside.mkdir()
    for f in FINISHED:
        os.rename(out / f, aside / f)
    (aside / ".moved").touch()  # every file had been moved before the new run started
    (out / "log.jsonl").write_text('{"epoch": 1}\n')  # the killed run's partial log
    (out / "best.pt").write_bytes(b"new")  # and its best.pt, killed before its last.pt
    status, _, err = cli.run(cli.train(tgif, out))
    assert status == 2 and "holds a previous run" in err.strip().splitlines()[-1], err
    assert "restored the previous run" in err, err
    assert_unchanged(out, before)
    assert not aside.exists()


def test_a_kill_after_the_first_checkpoint_keeps_the_new_run(finished_run, tgif, cli):
    out, before = finished_run
    aside = out / ".previous-run"
    aside.mkdir()
    for f in FINISHED:
        shutil.copy(out / f, aside / f)
    for f in ("metrics.json", "test_predictions.jsonl"):  # the new run had reached epoch 1
        os.remove(out / f)
    status, _, err = cli.run(cli.train(tgif, out, "--resume"))
    assert status == 0, err
    assert not aside.exists()


# -- one process per folder ----------------------------------------------------------------------

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
time.sleep(120)
"""


def test_a_folder_in_use_by_another_process_is_refused(tgif, cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        cli.error(
            cli.train(tgif, out),
            f"output folder {out} is in use by process {holder.pid}",
            label="locked folder",
        )
        assert not (out / "log.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # the lock died with its process: no stale lock
    status, _, err = cli.run(cli.train(tgif, out))
    assert status == 0, err


@pytest.mark.slow
def test_two_trainings_into_one_folder(tgif, tmp_path):
    """Two real processes: while one trains, the other (even with --overwrite) stops with one
    line naming the first."""
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "mspan_pyg.cli.main",
        "train",
        "--task",
        "count",
        "--data-dir",
        tgif["data_dir"],
        "--features",
        tgif["features"],
        "--out",
        str(out),
        "--epochs",
        "1000",  # still training when the second one starts; killed below
        "--num-scales",
        "2",
        "--visual-dim",
        "8",
        "--module-dim",
        "8",
        "--word-dim",
        "8",
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    first = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "last.pt").exists():  # it holds the folder and has a run in it
            assert time.time() < deadline and first.poll() is None
            time.sleep(0.05)
        second = subprocess.run(
            argv + ["--overwrite"], env=env, stderr=subprocess.PIPE, text=True, timeout=300
        )
        assert first.poll() is None, "the first run was disturbed"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    errors = [l for l in second.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and f"in use by process {first.pid}" in errors[0], second.stderr
    assert "Traceback" not in second.stderr


# -- environment errors --------------------------------------------------------------------------


def test_an_output_path_that_cannot_be_a_folder(tgif, cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = cli.error(cli.train(tgif, blocker / "run"), str(blocker), label="out under a file")
    assert "Not a directory" in line or "File exists" in line, line


@pytest.mark.skipif(
    not os.path.isdir("/sys") or os.access("/sys", os.W_OK) is False,
    reason="needs a path that cannot be created even as root",
)
def test_an_output_folder_that_cannot_be_created(tgif, cli):
    try:
        os.mkdir("/sys/mspan-probe")
    except OSError:
        pass
    else:  # pragma: no cover - a writable /sys
        os.rmdir("/sys/mspan-probe")
        pytest.skip("/sys is writable here")
    cli.error(cli.train(tgif, "/sys/mspan-run"), "/sys/mspan-run", label="uncreatable out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder(finished_run, tgif, cli):
    out, before = finished_run
    os.chmod(out, 0o555)
    try:
        cli.error(cli.train(tgif, out, "--overwrite"), str(out), "Permission denied")
    finally:
        os.chmod(out, 0o755)
    assert_unchanged(out, before)


def test_a_read_only_file_system_is_reported_before_training(finished_run, tgif, cli, monkeypatch):
    """Simulated (the tests may run as root, who writes anywhere): the write probe fails."""
    from mspan_pyg import files

    out, before = finished_run

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(folder, "probe"))

    monkeypatch.setattr(files, "probe_write", read_only)
    cli.error(cli.train(tgif, out, "--overwrite"), str(out), "Read-only file system", label="EROFS")
    assert_unchanged(out, before)


def test_a_full_disk_is_reported_before_training(finished_run, tgif, cli, monkeypatch):
    import shutil as shutil_module

    out, before = finished_run
    usage = shutil_module.disk_usage(out)
    monkeypatch.setattr(shutil_module, "disk_usage", lambda p: usage._replace(free=1000))
    cli.error(cli.train(tgif, out, "--overwrite"), str(out), "free", label="full disk")
    assert_unchanged(out, before)


def test_a_disk_full_while_saving_leaves_nothing_half_written(tgif, cli, tmp_path, monkeypatch):
    from mspan_pyg.training import checkpoint

    def full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    out = tmp_path / "run"
    cli.error(cli.train(tgif, out), f"{out}/best.pt", "No space left on device", label="ENOSPC")
    assert not [p for p in os.listdir(out) if ".tmp-" in p]
    assert not (out / "best.pt").exists()


def test_a_plot_failure_is_a_warning(tgif, cli, tmp_path, monkeypatch):
    from mspan_pyg.analysis import plots

    def broken(out_dir, path=None):
        raise RuntimeError("no display")

    monkeypatch.setattr(plots, "plot_training_curves", broken)
    status, out, err = cli.run(cli.train(tgif, tmp_path / "run"))
    assert status == 0, err
    assert "warning: could not draw" in err and "no display" in err, err
    assert (tmp_path / "run" / "metrics.json").exists()


def test_every_optional_picture_is_drawn_or_warned(tmp_path, capsys):
    """The ablation's k_sweep.png and each row's curves go through the same rule."""
    from mspan_pyg.analysis.plots import draw_or_warn

    def full(results, path):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    path = str(tmp_path / "k_sweep.png")
    assert draw_or_warn(full, path, [], path) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: could not draw {path}: [Errno 28] No space left on device: '{path}'"]


def test_temporaries_of_killed_writes_are_removed_by_the_next_run(tgif, cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    pid = dead_pid()
    stale = [out / f".last.pt.tmp-{pid}", out / f".metrics.json.tmp-{pid}"]
    alive = out / f".best.pt.tmp-{os.getppid()}"  # a write still running elsewhere
    for p in stale + [alive]:
        p.write_bytes(b"x" * 100)
    status, _, err = cli.run(cli.train(tgif, out))
    assert status == 0, err
    assert not any(p.exists() for p in stale) and alive.exists()


def test_temporaries_of_killed_conversions_and_synthetic_data_are_removed(cli, tmp_path):
    import numpy as np

    from mspan_pyg.data.synthetic import make_synthetic_videoqa

    pid = dead_pid()
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "1.npy", np.zeros((4, 3), dtype=np.float32))
    stale = tmp_path / f".feat.h5.tmp-{pid}"
    stale.write_bytes(b"x")
    status, _, err = cli.run(
        ["convert-features", "npy", "--appearance", npy, "--out", tmp_path / "feat.h5"]
    )
    assert status == 0, err
    assert not stale.exists()

    data = tmp_path / "synthetic"
    data.mkdir()
    stale = data / f".features.h5.tmp-{pid}"
    stale.write_bytes(b"x")
    make_synthetic_videoqa(data, num_videos=4, num_frames=8, appearance_dim=4, motion_dim=2)
    assert not stale.exists()


def test_an_interruption_while_moving_the_previous_run_aside_moves_it_back(
    finished_run, monkeypatch
):
    from mspan_pyg.training import output

    out, before = finished_run
    folder = output.OutputFolder(str(out))
    folder.acquire()
    moves = {"n": 0}
    replace = os.replace

    def interrupted(src, dst):
        moves["n"] += 1
        if moves["n"] == 3:
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(output.os, "replace", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            folder.replace_previous()
        monkeypatch.setattr(output.os, "replace", replace)
        folder.restore_previous()
    finally:
        folder.release()
    assert_unchanged(out, before)
    assert not (out / ".previous-run").exists()


@pytest.mark.slow
def test_sigkill_during_an_overwrite_then_the_next_run_restores(finished_run, tgif, tmp_path):
    """A real kill: the replacing run dies after moving the previous run aside and before its
    first checkpoint; the next run in the folder puts the previous run back."""
    import signal

    out, before = finished_run
    argv = [sys.executable, "-m", "mspan_pyg.cli.main", "train", "--task", "count"]
    argv += ["--data-dir", tgif["data_dir"], "--features", tgif["features"], "--out", str(out)]
    argv += ["--num-scales", "2", "--visual-dim", "8", "--module-dim", "8", "--word-dim", "8"]
    argv += ["--batch-size", "1", "--no-progress"]  # 17 steps before the first checkpoint
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    proc = subprocess.Popen(argv + ["--overwrite"], env=env, stderr=subprocess.DEVNULL)
    marker = out / ".previous-run" / ".moved"
    deadline = time.time() + 120
    while not marker.exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (out / "last.pt").exists():  # pragma: no cover - the epoch was faster than the kill
        pytest.skip("the first checkpoint was written before the kill")
    again = subprocess.run(argv, env=env, stderr=subprocess.PIPE, text=True, timeout=300)
    assert again.returncode == 2 and "restored the previous run" in again.stderr, again.stderr
    assert_unchanged(out, before)
    assert not (out / ".previous-run").exists()
