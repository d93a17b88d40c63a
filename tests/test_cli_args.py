"""The command line checks every argument before loading data or training: one line on stderr, exit 2."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from kdviz import __main__ as cli
from kdviz.__main__ import main
from kdviz.mnist import data

BAD = [
    (["distill", "--epochs", "0"], "--epochs"),
    (["distill", "--epochs", "-3"], "--epochs"),
    (["distill", "--hidden", "0"], "--hidden"),
    (["distill", "--hidden", "many"], "--hidden"),
    (["distill", "--T", "inf"], "--T"),
    (["distill", "--T", "0"], "--T"),
    (["distill", "--T", "nan"], "--T"),
    (["distill", "--alpha", "1.5"], "--alpha"),
    (["distill", "--seeds", "0"], "--seeds"),
    (["distill", "--seed", "-1"], "--seed"),
    (["distill", "--seed", "1180591620717411303424"], "--seed"),
    (["sweep", "--seed", "2147483647", "--seeds", "2"], "--seed"),
    (["sweep", "--T", "0"], "--T"),
    (["sweep", "--alpha", "1.5"], "--alpha"),
    (["sweep", "--T", "1", "x"], "--T"),
    (["distill", "--data-dir", "/no/such/folder"], "--data-dir"),
    (["distill", "--device", "tpu"], "--device"),
    (["teacher", "--preset", "huge"], "--preset"),
    (["distill", "--hidden", "100000"], "--hidden"),  # was refused only when torch allocated, after loading
    (["distill", "--hidden", "4096", "--seeds", "30"], "--seeds/--hidden"),
    (["sweep", "--hidden", "4096", "--seeds", "3"], "--seeds/--hidden"),
    (["distill", "--data-dir", ""], "--data-dir"),  # was the current folder, and a download into it
    (["fetch", "--dir", " "], "--dir"),
    (["distill", "--transfer-jitter", "14"], "--transfer-jitter"),
    (["sweep", "--transfer-jitter", "1.5"], "--transfer-jitter"),
    (["consistency", "--transfer-mixup", "0"], "--transfer-mixup"),
    (["consistency", "--transfer-mixup", "nan"], "--transfer-mixup"),
    (["consistency", "--arms", "mixup"], "--arms"),
    (["consistency", "--images", "60001"], "--images"),
    (["consistency", "--validation", "-1"], "--validation"),
    (["record-lab", "--T", "0.5"], "--T"),  # the lab's slider runs from 1 to 50
    (["record-lab", "--T", "60"], "--T"),
    (["record-lab", "--alpha", "-0.1"], "--alpha"),
    (["record-lab", "--hidden", "0"], "--hidden"),
    (["nonsense"], "command"),
]
if not torch.cuda.is_available():
    BAD.append((["distill", "--device", "cuda"], "--device"))


@pytest.fixture(autouse=True)
def no_data_may_be_loaded(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(data, "load_mnist", refuse)


@pytest.mark.parametrize("argv, flag", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_argument_is_one_line_naming_the_flag_with_exit_2(argv, flag, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_missing_data_dir_is_not_created(tmp_path, capsys):
    missing = tmp_path / "mnist"
    assert main(["sweep", "--data-dir", str(missing)]) == 2
    assert not missing.exists()
    assert "python -m kdviz fetch --dir" in capsys.readouterr().err


def test_teacher_refuses_to_overwrite_files_in_an_out_folder(tmp_path, capsys):
    (tmp_path / "small_teacher.pt").write_bytes(b"the user's file")
    assert main(["teacher", "--preset", "small", "--out", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (tmp_path / "small_teacher.pt").read_bytes() == b"the user's file"


def test_teacher_refuses_an_out_that_is_a_file_before_training(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("the user's notes")
    assert main(["teacher", "--preset", "small", "--out", str(target)]) == 2  # load_mnist refuses: nothing trained
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "the user's notes"


def test_the_cli_seed_limit_is_the_training_seed_limit():
    from kdviz import __main__
    from kdviz.mnist import train

    assert __main__.MAX_SEED == train.MAX_SEED


def test_record_lab_refuses_to_write_over_a_file_or_the_full_size_record_in_quick_mode(tmp_path, capsys):
    taken = tmp_path / "lab_run.json"
    taken.write_text("mine", encoding="utf-8")
    assert main(["record-lab", "--out", str(taken)]) == 2
    assert "exists" in capsys.readouterr().err and taken.read_text(encoding="utf-8") == "mine"
    assert main(["record-lab"]) == 2  # under pytest: quick mode
    assert "quick mode" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["fetch", "teacher", "distill", "sweep", "record-lab"])
def test_help_shows_defaults_in_plain_text(command):
    run = subprocess.run([sys.executable, "-m", "kdviz", command, "--help"], capture_output=True, text=True)
    assert run.returncode == 0
    assert "``" not in run.stdout and "(default: None)" not in run.stdout
    assert "default" in run.stdout


def test_the_distill_help_names_the_seeds_option():
    run = subprocess.run([sys.executable, "-m", "kdviz", "distill", "--help"], capture_output=True, text=True)
    assert "--seeds" in run.stdout and "(default: 1)" in run.stdout


def test_an_error_the_command_cannot_name_is_one_line_with_exit_1(monkeypatch, capsys):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("C++ exception:\n  frame #0\n  frame #1\n" + "x" * 2000)

    monkeypatch.setattr(data, "load_mnist", out_of_memory)
    assert main(["distill", "--data-dir", "."]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: MemoryError: C++ exception: frame #0")
    assert len(lines[0]) < 700 and "Traceback" not in captured.err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["distill", "--hiden", "30"],
            "unrecognized arguments: --hiden 30; did you mean --hidden? (see `{prog} distill",
        ),
        (["sweep", "--alpah", "1", "--sed=2"], "did you mean --alpha for --alpah and --seed for --sed?"),
        (["teacher", "--ouy", "x"], "did you mean --out? (see `{prog} teacher --help`)"),
        (["fetch", "--whatever"], "unrecognized arguments: --whatever (see `{prog} fetch --help`)"),
    ],
)
@pytest.mark.parametrize("argv0, prog", [("/venv/bin/kdviz", "kdviz"), ("/src/kdviz/__main__.py", "python -m kdviz")])
def test_an_unknown_flag_names_its_commands_help_and_the_closest_flag(argv, expected, argv0, prog, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected.format(prog=prog) in err


def test_messages_spell_commands_as_the_program_was_started(tmp_path):
    missing = str(tmp_path / "mnist")
    as_module = subprocess.run(
        [sys.executable, "-m", "kdviz", "distill", "--data-dir", missing], capture_output=True, text=True
    )
    assert f"`python -m kdviz fetch --dir {missing}`" in as_module.stderr
    assert "(see `python -m kdviz distill --help`)" in as_module.stderr
    script = tmp_path / "kdviz"  # what pip's `kdviz` console script does
    script.write_text("import sys\nfrom kdviz.__main__ import main\nsys.exit(main())\n")
    as_command = subprocess.run(
        [sys.executable, str(script), "distill", "--data-dir", missing], capture_output=True, text=True
    )
    assert f"`kdviz fetch --dir {missing}`" in as_command.stderr and "python -m" not in as_command.stderr
    assert "(see `kdviz distill --help`)" in as_command.stderr


@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "the user's folder"])
def test_fetch_offline_is_one_short_sentence_and_leaves_no_folder_behind(existing, tmp_path, monkeypatch, capsys):
    import socket

    import pooch

    def offline(url, **kwargs):
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except OSError as lookup:
            raise ConnectionError(
                f"HTTPSConnectionPool({url}): Max retries exceeded (Caused by {lookup!r})"
            ) from lookup

    monkeypatch.setattr(pooch, "retrieve", offline)
    target = tmp_path / "new" / "mnist"
    if existing:
        target.mkdir(parents=True)
    assert main(["fetch", "--dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 300, err
    assert "(Name or service not known)" in err and "Max retries" not in err
    assert "check the internet connection" in err and "fetch --dir DIR` on a machine with internet access" in err
    assert (tmp_path / "new").exists() == existing and target.exists() == existing


def test_site_refuses_a_folder_that_holds_files_before_any_notebook_runs(tmp_path, capsys):
    (tmp_path / "index.html").write_text("the user's page")
    assert main(["site", "--out", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "index.html").read_text() == "the user's page"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--save", "EXISTING"], "exists (nothing is overwritten)"),
        (["--save", "/no/such/folder/run.json"], "is in no folder"),
        (["--validation", "10000", "--preset", "quick"], "leaves no training images"),
        (["--transfer-jitter", "0"], "--transfer-jitter 0 is fixed soft targets"),
        (["--arms", "matching", "--alpha", "0.9"], "--arms matching trains the soft term alone"),
        (["--transfer-mixup", "1"], "--transfer-mixup is for the matching arm"),
        (["--validation", "0"], "--validation 0 trains on every image"),
        (["--arms", "matching", "consistent", "matching"], "--arms names matching more than once"),
        (["--images", "5000", "--validation", "5000"], "leaves no training images of the 5000"),
    ],
)
def test_consistency_refuses_bad_settings_before_loading_data(extra, message, tmp_path, capsys):
    existing = tmp_path / "run.json"
    existing.write_text("{}")
    argv = ["consistency", *[str(existing) if a == "EXISTING" else a for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert existing.read_text() == "{}"


def test_consistency_refuses_a_stack_too_large_before_loading_data(tmp_path, monkeypatch, capsys):
    """Issue #36: consistency checks the stack's size as distill and sweep do, with the same message."""
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tmp_path))  # no MNIST here: loading it would be another error
    for command in ("distill", "consistency"):
        assert cli.main([command, "--seeds", "40", "--hidden", "4096"]) == 2
        assert "arguments --seeds/--hidden: " in capsys.readouterr().err


@pytest.fixture
def unwritable_save():
    """(the command prefix, a --save path) where the user running the command cannot write: a folder made
    read-only for a user other than root, or, as root (who writes anyway), the command run as 'nobody'."""
    top = Path(tempfile.mkdtemp(prefix="kdviz-locked-"))  # in /tmp, where any user may look
    folder = top / "locked"
    folder.mkdir()
    top.chmod(0o755)
    if os.geteuid() != 0:
        folder.chmod(0o500)
        prefix = []
    elif shutil.which("setpriv"):
        folder.chmod(0o755)  # root's: nobody may enter it, not write into it
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        pytest.skip("as root this test runs the command as 'nobody' through setpriv, which is missing here")
    yield prefix, folder / "run.json"
    folder.chmod(0o700)
    shutil.rmtree(top)


def test_consistency_refuses_a_save_folder_it_cannot_write_before_loading_data(unwritable_save):
    prefix, save = unwritable_save
    empty = Path(tempfile.mkdtemp(prefix="kdviz-no-mnist-"))  # no MNIST: loading it would fail another way
    empty.chmod(0o755)
    env = {**os.environ, "KDVIZ_DATA_DIR": str(empty), "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    command = [*prefix, sys.executable, "-m", "kdviz", "consistency", "--save", str(save)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd="/")
    finally:
        empty.rmdir()
    assert done.returncode == 2, done.stderr
    assert f"cannot write into {save.parent}" in done.stderr and "MNIST" not in done.stderr
    assert ".tmp" not in done.stderr and "Traceback" not in done.stderr


def test_the_readmes_function_matching_commands_pass_every_check_and_reach_the_data(tmp_path, monkeypatch, capsys):
    """The runs the README gives for function matching are commands the CLI takes: each gets past every check to
    the loading of MNIST (refused here), which comes after them."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("**Function matching.**", 1)[1].split("\n## ", 1)[0]
    commands = [line.split() for line in section.splitlines() if line.startswith("python -m kdviz consistency")]
    assert commands and ["consistent", "matching"] == commands[0][commands[0].index("--arms") + 1 :][:2]
    monkeypatch.chdir(tmp_path)  # the --save files are new files here
    for command in commands:
        assert main(command[3:]) == 1
        assert "data was loaded before the arguments were checked" in capsys.readouterr().err


def test_the_arm_flags_name_the_arms_compare_teaching_trains_in_its_order():
    from kdviz.dark_knowledge import ARMS

    assert tuple(cli.ARM_FLAGS.values()) == ARMS  # the parser names them without importing torch


def test_record_labs_help_gives_the_lab_presses_own_epochs_and_images(capsys):
    """The parser stays free of torch, so its help writes the numbers out: they must be the lab's."""
    from kdviz.widgets.lab import PRESS_EPOCHS, PRESS_IMAGES

    assert main(["record-lab", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"{PRESS_EPOCHS} epochs on the first {PRESS_IMAGES:,} transfer images" in help_text
