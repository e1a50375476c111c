#!/usr/bin/env python3
"""The docs are tests: every command in the fenced code blocks of README.md and docs/*.md runs
here, on small synthetic data, as the reader would type it (ctest group Docs.*).

  tests/docs/run_docs.py --glpdepth build/glpdepth --source . --file README.md
  tests/docs/run_docs.py --glpdepth build/glpdepth --source . --self-test

Commands are taken from the files themselves, never copied here: a block tagged sh/bash/shell,
or an untagged block whose every line starts with a command (glpdepth, make, scripts/...,
python3, ...). Untagged blocks of output are left alone. Lines joined by a trailing backslash are
one command; comments are dropped.

Each command then goes through one declared table, SUBSTITUTIONS (real dataset paths -> small
synthetic sets made here, b4 -> b0 where only the size matters, fewer epochs and steps, `...`
expanded), and runs in a scratch folder with `glpdepth` and `build/glpdepth` pointing at the
binary under test. What cannot run here is in SKIPS, each with its reason: a skipped glpdepth
command must still parse (GLPDEPTH_PARSE_ONLY=1), any other skipped line must pass `bash -n`.

The run fails when a command fails, when a file holds another number of commands than
EXPECTED_COMMANDS says (a block that stopped being recognised, or a new command nobody looked
at), or when a SKIPS entry no longer matches any line (the doc changed under it).
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

# The number of commands in each documentation file; update it with the docs.
EXPECTED_COMMANDS = {
    "README.md": 19,
    "docs/API.md": 2,
    "docs/CAMERAS.md": 0,
    "docs/CHECKPOINTS.md": 0,
    "docs/DATA.md": 0,
    "docs/DEPLOY.md": 4,
    "docs/DESIGN.md": 0,
    "docs/DISTRIBUTED.md": 3,
    "docs/GPU.md": 2,
    "docs/MODEL.md": 0,
    "docs/PERFORMANCE.md": 17,
    "docs/PROTOCOLS.md": 0,
    "docs/RELIABILITY.md": 3,
    "docs/TRAINING.md": 0,
}

# torchrun must come with the LibTorch glpdepth links: pip's torch 2.x (the test environment of
# make test-torch2) for the build against it. Debian 12's 1.13 torchrun spells the flag
# --no_python and then fails inside torch; 2.x's rendezvous store does not answer 1.13's client.
def not_libtorch2(source, glpdepth):
    info = subprocess.run([glpdepth, "info"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return not re.search(r"^LibTorch 2\.", info.stdout, re.M)


def no_video(source, glpdepth):
    info = subprocess.run([glpdepth, "info"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return not re.search(r"^video: yes", info.stdout, re.M)


def no_pip_torchrun(source, glpdepth):
    torchrun = os.path.join(source, ".venv", "bin", "torchrun")
    if not os.access(torchrun, os.X_OK) or not_libtorch2(source, glpdepth):
        return True
    # A venv made outside a chroot (the Debian 13 root sees the project's .venv) has an
    # interpreter path that does not exist inside it.
    try:
        return subprocess.run([torchrun, "--help"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=60).returncode != 0
    except (OSError, subprocess.TimeoutExpired):
        return True


# (file, pattern matching the command, reason[, condition]): only what cannot run here; with a
# condition (a function of the source folder and the binary), only where it holds.
SKIPS = [
    ("README.md", r"^make (demo|test)$", "the quick start itself: CI runs make test, make demo is timed separately"),
    ("README.md", r"^make test-(torch2|debian13)\b", "whole suites of other builds: .ci/run runs them"),
    ("README.md", r"^scripts/install-deps\.sh", "installs Debian packages with apt"),
    ("README.md", r"^scripts/make-openvino-env\.sh", "installs from PyPI (make runs it before the build)"),
    ("README.md", r"^cmake -S \. -B build", "the build itself (the binary under test comes from it)"),
    ("README.md", r"^torchrun ", "needs pip's torch 2.x torchrun (.venv: make test-torch2)", no_pip_torchrun),
    ("README.md", r"^srun ", "needs Slurm"),
    ("README.md", r"^glpdepth predict drive\.mp4", "this build has no video (FFmpeg)", no_video),
    ("docs/API.md", r"^cmake ", "the build and install: Install.ConsumersMatchPredictByteForByte runs them"),
    ("docs/DEPLOY.md", r"^trtexec ", "needs TensorRT and an NVIDIA GPU"),
    ("docs/DISTRIBUTED.md", r"^torchrun --nnodes=2", "two machines"),
    ("docs/DISTRIBUTED.md", r"^torchrun --nproc_per_node=2 ", "needs pip's torch 2.x torchrun (.venv: make test-torch2)", no_pip_torchrun),
    ("docs/GPU.md", r"^scripts/gpu-check\.sh", "needs an NVIDIA GPU machine"),
    ("docs/PERFORMANCE.md", r"^scripts/install-deps\.sh", "installs Debian packages with apt"),
    ("docs/PERFORMANCE.md", r"^DEMO_SEED=\d+ scripts/demo\.sh", "the whole demo: timed on its own, minutes (tests/demo runs it shrunk)"),
    ("docs/PERFORMANCE.md", r"^bench/learning\.sh ", "trains three models per variant, minutes each, on an idle machine"),
    ("docs/PERFORMANCE.md", r"bench/learnability\.py demo-output", "reads the output of the demo above"),
    ("docs/PERFORMANCE.md", r"^bench/race_builds\.sh .*build-torch2/", "races two builds: needs pip's LibTorch build (make test-torch2) beside this one"),
    ("docs/PERFORMANCE.md", r"^build-torch2/glpdepth bench .*--precision bf16",
     "CPU bf16 training needs LibTorch 2.x (the build against pip's torch)", not_libtorch2),
    ("docs/PERFORMANCE.md", r"^bench/video_throughput\.sh ", "this build has no video (FFmpeg)", no_video),
    ("docs/RELIABILITY.md", r"^torchrun ", "needs pip's torch 2.x torchrun (.venv: make test-torch2)", no_pip_torchrun),
    ("docs/RELIABILITY.md", r"^make fuzz\b", "a clang-14 build and a 15-minute campaign per target"),
]

# A short training run: appended to every `train` (later flags win), so that each runs two steps.
SMALL_TRAIN = ("--encoder b0 --epochs 1 --max_steps_per_epoch 2 --batch_size 2 --crop_h 64 --crop_w 128 "
               "--workers 1 --val_freq 1 --output {work}/logs")

# (pattern, replacement, why), applied in order to every command that runs. {fix} is the folder of
# the synthetic fixtures, {work} the command's scratch folder.
SUBSTITUTIONS = [
    (r"(/datasets/civil-459/?|/data/kitti\b|/data\b)", lambda m: {
        "/data/kitti": "{fix}/data/kitti"}.get(m.group(1), "{fix}/data"), "real datasets -> synthetic sets"),
    (r"\bmit_b4\.pth\b", "{fix}/mit_b0.pth", "ImageNet MiT-b4 encoder -> a b0 weights file"),
    (r"\b(best_model_kitti|best)\.ckpt\b", "{fix}/best.ckpt", "a trained checkpoint -> a two-step b0 run"),
    (r"(?<=predict )images/", "{fix}/images/", "a folder of frames -> synthetic frames"),
    (r"\bcalib_cam_to_cam\.txt\b", "{fix}/calib_cam_to_cam.txt", "a KITTI calibration -> the synthetic drive's"),
    (r"(?<=predict )drive\.mp4\b", "{fix}/drive.mp4", "a dashcam video -> a video of two synthetic frames"),
    (r"--encoder b4\b", "--encoder b0", "only the size matters"),
    (r"--count 300\b", "--count 24", "fewer synthetic frames"),
    (r"--nproc 4\b", "--nproc 2", "two ranks on two cores"),
    (r"\blaunch --nproc\b", "launch --master_port 0 --nproc",
     "a free rendezvous port: the doc files run in parallel, two launches on 29500 would collide"),
    (r"--save_every_minutes \d+", "--save_every_minutes 1", "shorter"),
    (r"(\s)\.\.\.(\s|$)", "\\1--dataset kitti --data_path {fix}/data\\2", "`...` -> a dataset"),
    (r"^torchrun ", "{source}/.venv/bin/torchrun ", "pip's torch 2.x torchrun"),
    (r"((?:glpdepth\)?|--) train\b.*)$", lambda m: m.group(1) + " " + SMALL_TRAIN,
     "two steps of b0 instead of a real training (the train command, also behind launch or torchrun)"),
    (r"--pairs 48\b", "--pairs 4", "fewer loader pairs"),
    (r"(video_throughput\.sh) --frames \d+ --rounds \d+ --encoder b\d", "\\1 --frames 2 --rounds 1 --encoder b0",
     "the video benchmark's smallest run"),
    (r"(race\.py .*)$", lambda m: m.group(1) + " --cases b0-smoke-64x96", "the race's quick case"),
    (r"(predict_throughput\.sh) --frames \d+ --rounds \d+ --encoder b\d", "\\1 --frames 2 --rounds 1 --encoder b0",
     "two frames, one round, b0"),
    (r"^build-torch2/glpdepth (bench .*) --height 352 --width 704", "build/glpdepth \\1 --height 64 --width 128",
     "the binary under test (a LibTorch 2.x build), a small input"),
    (r"(race_backends\.py .*)$", lambda m: m.group(1).replace("--glpdepth build-torch2/glpdepth ", "")
     + " --encoders b0 --batches 1 --height 64 --width 96 --rounds 1 --iters 1 --only glpdepth",
     "one small round of glpdepth's own backends, with the binary under test only"),
]

COMMAND_WORDS = re.compile(
    r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*"
    r"(glpdepth|build[\w-]*/\S+|make|cmake|ninja|scripts/\S+|bench/\S+|python3|/usr/bin/python3|"
    r"\.venv\S*/bin/python\S*|torchrun|srun|sbatch|ctest|update-alternatives|pkg-config|trtexec|"
    r"apt-get)(\s|$)")
SHELL_TAGS = {"sh", "bash", "shell"}


def strip_comment(line):
    """The line without a trailing `# comment` (outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def extract(text):
    """[(line number, command)] of the command blocks, and the number of output blocks."""
    lines = text.split("\n")
    commands, output_blocks, i = [], 0, 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)", lines[i])
        if not fence:
            i += 1
            continue
        tag, j, logical, current = fence.group(1), i + 1, [], None
        while j < len(lines) and not lines[j].startswith("```"):
            body = lines[j]
            if current is None:
                current = [j + 1, body]
            else:
                current[1] += " " + body.strip()
            if current[1].endswith("\\"):
                current[1] = current[1][:-1].rstrip()
            else:
                logical.append(current)
                current = None
            j += 1
        if current:
            logical.append(current)
        block = [(n, strip_comment(l).strip()) for n, l in logical]
        block = [(n, c) for n, c in block if c and not c.startswith("#")]
        if tag in SHELL_TAGS or (tag == "" and block and all(COMMAND_WORDS.match(c) for _, c in block)):
            commands += block
        elif tag == "":
            output_blocks += 1
        i = j + 1
    return commands, output_blocks


def substitute(command, fix, work, source=""):
    for pattern, replacement, _ in SUBSTITUTIONS:
        command = re.sub(pattern, replacement, command)
    return command.replace("{fix}", fix).replace("{work}", work).replace("{source}", source)


class Fixtures:
    """Small synthetic stand-ins for the datasets and files the docs name, made on first use."""

    def __init__(self, glpdepth, root):
        self.glpdepth, self.root, self.made = glpdepth, root, False

    def run(self, *args):
        subprocess.run([self.glpdepth, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=600)

    def make(self):
        if self.made:
            return
        self.made = True
        data = os.path.join(self.root, "data")
        self.run("synth", "--output", os.path.join(data, "kitti"), "--camera", "kitti", "--count", "24",
                 "--scale", "0.25", "--seed", "1", "--frames_per_drive", "4", "--val_fraction", "0.25",
                 "--test_fraction", "0.25", "--sparse")
        self.run("synth", "--output", os.path.join(data, "DrivingStereo"), "--camera", "drivingstereo",
                 "--count", "16", "--scale", "0.25", "--seed", "2", "--frames_per_drive", "4",
                 "--val_fraction", "0.25", "--test_fraction", "0.25")
        self.run("train", "--dataset", "kitti", "--data_path", os.path.join(data, "kitti"), "--encoder", "b0",
                 "--pretrained", "none", "--epochs", "1", "--max_steps_per_epoch", "2", "--batch_size", "2",
                 "--crop_h", "64", "--crop_w", "128", "--val_freq", "0", "--output", os.path.join(self.root, "logs"),
                 "--exp_name", "fixture", "--threads", "2")
        shutil.copy(os.path.join(self.root, "logs", "kitti", "fixture", "last.ckpt"),
                    os.path.join(self.root, "best.ckpt"))
        self.run("export", "--random_weights", "--encoder", "b0", "--format", "pytorch", "--output",
                 os.path.join(self.root, "mit_b0.pth"))
        images = os.path.join(self.root, "images")
        os.makedirs(images)
        frames = []
        for folder, _, files in os.walk(os.path.join(data, "kitti")):
            frames += [os.path.join(folder, f) for f in files if f.endswith(".png") and "image_02" in folder]
        for frame in sorted(frames)[:2]:
            shutil.copy(frame, os.path.join(images, os.path.basename(frame)))
        calibs = []
        for folder, _, files in os.walk(os.path.join(data, "kitti")):
            calibs += [os.path.join(folder, f) for f in files if f == "calib_cam_to_cam.txt"]
        shutil.copy(sorted(calibs)[0], os.path.join(self.root, "calib_cam_to_cam.txt"))
        if not no_video(None, self.glpdepth):
            self.run("predict", images, "--ckpt", os.path.join(self.root, "best.ckpt"), "--save_video",
                     "--video_layout", "side-by-side", "--output", os.path.join(self.root, "movie"))
            shutil.copy(os.path.join(self.root, "movie", "depth.mp4"), os.path.join(self.root, "drive.mp4"))


def scratch_folder(parent, glpdepth, source):
    """A folder that looks like the source tree to a reader: build/glpdepth, scripts/, bench/."""
    work = tempfile.mkdtemp(dir=parent)
    os.symlink(os.path.dirname(os.path.abspath(glpdepth)), os.path.join(work, "build"))
    source = os.path.abspath(source)
    for name in ["scripts", "bench", "docs", "tests", "examples", ".venv", ".venv-openvino"]:
        if os.path.exists(os.path.join(source, name)):
            os.symlink(os.path.join(source, name), os.path.join(work, name))
    return work


def run_file(args, relative, log=print):
    """Runs the commands of one file; returns the list of failures."""
    path = os.path.join(args.source, relative)
    with open(path) as f:
        commands, _ = extract(f.read())
    failures = []
    expected = EXPECTED_COMMANDS.get(relative)
    if expected is None:
        failures.append(f"{relative}: not in EXPECTED_COMMANDS ({len(commands)} commands found)")
    elif expected != len(commands):
        failures.append(f"{relative}: {len(commands)} commands found, EXPECTED_COMMANDS says {expected}")
    source = os.path.abspath(args.source)
    skips = [(re.compile(entry[1]), entry[2], entry[3] if len(entry) > 3 else None)
             for entry in SKIPS if entry[0] == relative]
    used = set()
    root = tempfile.mkdtemp(prefix="glpdepth-docs-")
    bin_dir = os.path.join(root, "bin")
    os.makedirs(bin_dir)
    os.symlink(os.path.abspath(args.glpdepth), os.path.join(bin_dir, "glpdepth"))
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], OMP_NUM_THREADS="1")
    fixtures = Fixtures(os.path.abspath(args.glpdepth), os.path.join(root, "fixtures"))
    # One folder for the file's commands, in order: later ones use what earlier ones wrote, as
    # for a reader who types them one after the other.
    work = scratch_folder(root, args.glpdepth, args.source)
    try:
        for line, command in commands:
            where = f"{relative}:{line}"
            skip = next(((i, reason, when) for i, (p, reason, when) in enumerate(skips)
                         if p.search(command)), None)
            if skip:
                used.add(skip[0])
            if skip and (skip[2] is None or skip[2](source, os.path.abspath(args.glpdepth))):
                # The glpdepth part, also behind a launcher (srun, torchrun --no-python ...).
                invocation = re.match(r"^(?:(?:srun|\S*torchrun)\s(?:.*?\s)?)?(?:\$\(which )?(?:[\w./-]*/)?"
                                      r"glpdepth\)?\s+(\S.*)$", command)
                if invocation:
                    rest = substitute(invocation.group(1), "/fixtures", "/work", source)
                    check = subprocess.run([os.path.abspath(args.glpdepth), *shlex.split(rest)], env=dict(
                        env, GLPDEPTH_PARSE_ONLY="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    ok = check.returncode == 0
                else:
                    check = subprocess.run(["bash", "-n", "-c", command], stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
                    ok = check.returncode == 0
                log(f"{'skip' if ok else 'FAIL'} {where}: {command}  [{skip[1]}]")
                if not ok:
                    failures.append(f"{where}: skipped, but does not parse: {check.stdout.strip()[-400:]}")
                continue
            if "{fix}" in substitute(command, "{fix}", "{work}"):
                fixtures.make()
            runnable = substitute(command, fixtures.root, work, source)
            start = time.time()
            result = subprocess.run(["bash", "-c", runnable], cwd=work, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, timeout=args.timeout)
            seconds = time.time() - start
            log(f"{'ok  ' if result.returncode == 0 else 'FAIL'} {where} ({seconds:.1f} s): {command}")
            if runnable != command:
                log(f"       ran: {runnable}")
            if result.returncode != 0:
                failures.append(f"{where}: exit {result.returncode}: {command}\n  ran: {runnable}\n"
                                + "\n".join("  | " + l for l in result.stdout.strip().splitlines()[-15:]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for i, (pattern, reason, _) in enumerate(skips):
        if i not in used:
            failures.append(f"{relative}: SKIPS entry /{pattern.pattern}/ ({reason}) matches no command")
    return failures


def self_test(args):
    """The harness fails where it must: a renamed flag, a stale skip, a miscount."""
    problems = []
    doc = "```sh\nglpdepth info --thread 2\n```\n\n```\noutput: not a command\n```\n"
    commands, outputs = extract(doc)
    if commands != [(2, "glpdepth info --thread 2")] or outputs != 1:
        problems.append(f"extract: {commands} {outputs}")
    joined, _ = extract("```sh\nglpdepth predict a.png \\\n    --ckpt b.ckpt   # why\n```\n")
    if joined != [(2, "glpdepth predict a.png --ckpt b.ckpt")]:
        problems.append(f"continuation lines: {joined}")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "docs"))
        with open(os.path.join(tmp, "docs", "SELF.md"), "w") as f:
            f.write(doc)
        fake = argparse.Namespace(source=tmp, glpdepth=args.glpdepth, timeout=60)
        EXPECTED_COMMANDS["docs/SELF.md"] = 1
        failures = run_file(fake, "docs/SELF.md", log=lambda *_: None)
        if not any("--thread" in f and "exit 2" in f for f in failures):
            problems.append(f"a renamed flag did not fail: {failures}")
        with open(os.path.join(tmp, "docs", "SELF.md"), "w") as f:
            f.write("```sh\nglpdepth info --threads 2\n```\n")
        if run_file(fake, "docs/SELF.md", log=lambda *_: None):
            problems.append("a correct command failed")
        SKIPS.append(("docs/SELF.md", r"^srun ", "gone"))
        if not any("matches no command" in f for f in run_file(fake, "docs/SELF.md", log=lambda *_: None)):
            problems.append("a stale SKIPS entry was not reported")
        SKIPS.pop()
        SKIPS.append(("docs/SELF.md", r"^glpdepth info", "parse only"))
        with open(os.path.join(tmp, "docs", "SELF.md"), "w") as f:
            f.write("```sh\nglpdepth info --thread 2\n```\n")
        if not any("does not parse" in f for f in run_file(fake, "docs/SELF.md", log=lambda *_: None)):
            problems.append("a skipped command with a renamed flag was not caught by the parse-only check")
        SKIPS.pop()
        EXPECTED_COMMANDS["docs/SELF.md"] = 2
        if not any("EXPECTED_COMMANDS says 2" in f for f in run_file(fake, "docs/SELF.md", log=lambda *_: None)):
            problems.append("a miscount was not reported")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glpdepth", required=True, help="the binary under test")
    parser.add_argument("--source", required=True, help="the source tree (README.md, docs/)")
    parser.add_argument("--file", action="append", default=[], help="README.md or docs/X.md (repeatable)")
    parser.add_argument("--every-file", action="store_true", help="check that every docs/*.md is listed")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per command")
    args = parser.parse_args()
    if args.self_test:
        problems = self_test(args)
        for p in problems:
            print("FAIL", p)
        print(f"{6 - len(problems)} passed, {len(problems)} failed")
        return 1 if problems else 0
    failures = []
    if args.every_file:
        present = {"README.md"} | {"docs/" + f for f in os.listdir(os.path.join(args.source, "docs"))
                                   if f.endswith(".md")}
        for missing in sorted(present - set(EXPECTED_COMMANDS)):
            failures.append(f"{missing}: a documentation file the docs test does not know")
        for gone in sorted(set(EXPECTED_COMMANDS) - present):
            failures.append(f"{gone}: listed in EXPECTED_COMMANDS but not there")
    for relative in args.file:
        failures += run_file(args, relative)
    for failure in failures:
        print("FAIL", failure)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
