"""The training campaign: one resumable command that trains every model of tfnq.

    python scripts/campaign.py                 # train (resume) every unfinished run
    python scripts/campaign.py --lanes=2       # two runs side by side, one thread each
    python scripts/campaign.py --status        # where every run stands, then exit
    python scripts/campaign.py --report        # rewrite docs/campaign/ from the curves
    python scripts/campaign.py --stop          # stop it (every run saves a checkpoint)

The campaign file (`campaign.json` at the top of the repository) lists the runs in
the order they are trained, each with the flags of `scripts/train.py`, where its
weights start (`init_from`: an export, `run:<name>` for another run's final weights,
or `run:<name>@<step>` for its milestone export at that step, usable while that run
goes on) and its milestone exports; the command keeps each run's state (status,
step, CPU hours, last validation point, exports) in the same file as it goes.

Every run resumes:
* from its latest checkpoint in `--checkpoint_root/<run>` (same machine);
* else from its newest export (in `--export_root` or `saved_models/`; the export's
  metadata names the run, its step and CPU hours), with fresh optimizers whose
  learning rates ramp up again (`lr_ramp_steps`): Adam's moments are not exported;
* else from `init_from`, at step 0.
Each run appends its learning curve (steps, CPU hours, training loss, estimated bpp
and PSNR on the validation images every `eval_every` steps) to
`docs/campaign/<run>.csv`; `--report` draws them and writes `docs/campaign/README.md`.

A run is a `scripts/train.py` process with one intra-op and one inter-op thread;
`--lanes` of them run at once, in campaign order, each as soon as the run it starts
from is done. Stopping the command (Ctrl-C, SIGTERM) stops the runs; rerunning it
continues them.
"""

import datetime
import fcntl
import glob
import json
import os
import signal
import subprocess
import sys
import time

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string("campaign", os.path.join(REPO, "campaign.json"), "The campaign file.")
flags.DEFINE_string("checkpoint_root", "/work/ckpt/campaign",
                    "Checkpoints and logs, one folder per run (outside the repository).")
flags.DEFINE_string("export_root", "/work/ckpt/campaign/export",
                    "Where runs export their milestones (outside the repository).")
flags.DEFINE_string("curves", os.path.join(REPO, "docs", "campaign"),
                    "Learning curves and the campaign report.")
flags.DEFINE_integer("lanes", 1, "Runs trained at once (one thread each).")
flags.DEFINE_list("only", [], "Train only these runs (default: all, in order).")
flags.DEFINE_bool("status", False, "Print every run's state and exit.")
flags.DEFINE_bool("report", False, "Rewrite the report from the curves and exit.")
flags.DEFINE_bool("dry_run", False, "Print the commands instead of running them.")
flags.DEFINE_bool("stop", False, "Stop the campaign running on this machine (its runs save "
                  "a checkpoint) and wait until it has.")
flags.DEFINE_integer("poll_seconds", 60, "Seconds between state updates.")
flags.DEFINE_string("python", sys.executable, "Python interpreter for scripts/train.py.")

# Flags of scripts/train.py that the campaign sets itself.
_OWN = {"checkpoint_dir", "curve", "run", "resume_from", "init_from", "export_dir",
        "export_at", "threads", "train_glob", "eval_glob", "name"}


class CampaignError(ValueError):
    pass


# -- The campaign file -----------------------------------------------------------------


def load_campaign(path):
    """The campaign file, checked: unique run names, known references."""
    with open(path) as f:
        campaign = json.load(f)
    names = [r.get("name") for r in campaign.get("runs", [])]
    if not names or len(set(names)) != len(names) or not all(names):
        raise CampaignError(f"{path}: runs need distinct names")
    for run in campaign["runs"]:
        bad = _OWN & set(run.get("flags", {}))
        if bad:
            raise CampaignError(f"{path}: run {run['name']}: flags {sorted(bad)} are set by "
                                f"the campaign")
        if "num_steps" not in run.get("flags", {}):
            raise CampaignError(f"{path}: run {run['name']}: flags need num_steps")
        parent = _parent(run)
        if parent and parent[0] not in names[:names.index(run["name"])]:
            raise CampaignError(f"{path}: run {run['name']}: init_from {run['init_from']} "
                                f"does not name an earlier run")
    return campaign


def save_campaign(campaign, path):
    """Writes the campaign file atomically (a crash never leaves half a file)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(campaign, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _setting(campaign, key, default=None):
    return campaign.get("settings", {}).get(key, default)


# -- Where a run stands --------------------------------------------------------------


def checkpoint_dir(run):
    return os.path.join(FLAGS.checkpoint_root, run["name"])


def checkpoint_step(run):
    """Step of the run's latest checkpoint on this machine, or None."""
    folder = checkpoint_dir(run)
    try:
        with open(os.path.join(folder, "checkpoint")) as f:
            first = f.readline()
    except OSError:
        return None
    name = first.split('"')[1] if '"' in first else ""
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def exports_of(run):
    """Exports of a run, newest step first: dicts with path, mode, steps, cpu_hours."""
    found = []
    for root in (FLAGS.export_root, os.path.join(REPO, "saved_models")):
        for meta_path in glob.glob(os.path.join(root, "*", "*", "assets.extra", "tfnq.json")):
            try:
                with open(meta_path) as f:
                    metadata = json.load(f)
            except (OSError, ValueError):
                continue
            info = metadata.get("training") or {}
            if info.get("run") != run["name"] or info.get("steps") is None:
                continue
            found.append(dict(path=os.path.dirname(os.path.dirname(meta_path)),
                              mode=metadata.get("mode"), steps=int(info["steps"]),
                              cpu_hours=info.get("cpu_hours")))
    return sorted(found, key=lambda e: -e["steps"])


def curve_path(run):
    return os.path.join(FLAGS.curves, f"{run['name']}.csv")


def last_points(run):
    """The latest validation point of each mode in the run's curve, and its step."""
    import csv
    try:
        with open(curve_path(run), newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
    if not rows:
        return {}
    last = max(int(r["step"]) for r in rows)
    points = {r["mode"]: dict(bpp=float(r["valid_bpp"]), psnr=float(r["valid_psnr"]))
              for r in rows if int(r["step"]) == last}
    return dict(step=last, cpu_hours=float(rows[-1]["cpu_hours"]), valid=points)


def is_done(run):
    state = run.get("state", {})
    return state.get("status") == "done" and state.get("step", 0) >= run["flags"]["num_steps"]


def refresh_state(run, status=None):
    """Updates `run["state"]` from the machine: checkpoint, curve and exports."""
    state = run.setdefault("state", {})
    step = checkpoint_step(run)
    points = last_points(run)
    if step is not None:
        state["step"] = step
    elif points:
        state["step"] = max(state.get("step", 0), points["step"])
    if points:
        state["cpu_hours"] = round(points["cpu_hours"], 3)
        state["valid_step"] = points["step"]
        state["valid"] = points["valid"]
    exports = exports_of(run)
    if exports:
        newest = [e["path"] for e in exports if e["steps"] == exports[0]["steps"]]
        state["exports"] = sorted(os.path.relpath(p, REPO) if p.startswith(REPO) else p
                                  for p in newest)
        state["exported_step"] = exports[0]["steps"]
    if status:
        state["status"] = status
    state["updated"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- Running -------------------------------------------------------------------------


def _parent(run):
    """`(name, step)` of the run `init_from` names (`run:NAME` or `run:NAME@STEP`), or None.

    `step` None means the run's final weights; a step means its export at that step
    (a milestone), which exists before the run is done.
    """
    source = run.get("init_from") or ""
    if not source.startswith("run:"):
        return None
    name, _, step = source[4:].partition("@")
    return name, int(step) if step else None


def _milestone(parent, step):
    return [e for e in exports_of(parent) if e["steps"] == step]


def _resolve_init(run, runs):
    """The `--init_from` of a run: a path, or the weights of an earlier run."""
    source = run.get("init_from")
    if not source:
        return None
    if not source.startswith("run:"):
        return source if os.path.isabs(source) else os.path.join(REPO, source)
    name, step = _parent(run)
    parent = runs[name]
    if step is not None:
        if _milestone(parent, step):
            return _milestone(parent, step)[0]["path"]
        raise CampaignError(f"run {run['name']}: {source}: no export at step {step}")
    if checkpoint_step(parent) is not None:
        return checkpoint_dir(parent)
    final = [e for e in exports_of(parent) if e["steps"] >= parent["flags"]["num_steps"]]
    if final:
        return final[0]["path"]
    raise CampaignError(f"run {run['name']}: {source} has neither a checkpoint nor a final "
                        f"export on this machine")


def command(campaign, run, runs):
    """The scripts/train.py command line of a run."""
    args = [FLAGS.python, os.path.join(REPO, "scripts", "train.py")]
    merged = dict(campaign.get("defaults", {}))
    merged.update(run["flags"])
    for key, value in merged.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = str(value).lower()
        args.append(f"--{key}={value}")
    train_glob = _setting(campaign, "train_glob")
    eval_glob = _setting(campaign, "eval_glob")
    args += [f"--train_glob={_repo_path(train_glob)}", f"--checkpoint_dir={checkpoint_dir(run)}",
             f"--run={run['name']}", "--threads=1", f"--curve={curve_path(run)}"]
    if eval_glob:
        args.append(f"--eval_glob={_repo_path(eval_glob)}")
    if run.get("export"):
        args += [f"--export_dir={FLAGS.export_root}", f"--name={run['export']}"]
        if run.get("export_at"):
            args.append("--export_at=" + ",".join(str(s) for s in run["export_at"]))
    if checkpoint_step(run) is None:
        exports = exports_of(run)
        if exports:
            args.append(f"--resume_from={exports[0]['path']}")
        else:  # A run that has weights of its own no longer needs its parent's.
            init = _resolve_init(run, runs)
            if init:
                args.append(f"--init_from={init}")
    return args


def _repo_path(spec):
    return ",".join(s if os.path.isabs(s) else os.path.join(REPO, s) for s in spec.split(","))


def train(path):
    """Trains every unfinished run; returns the exit code.

    The campaign file is read again at every poll, so runs can be added, reordered or
    extended while the command runs; only the state of the runs is written back.
    """
    active = {}  # name -> (process, log file)
    failed = set()
    stopping = []

    def stop(signum, frame):
        del frame
        stopping.append(signum)
        for process, _ in active.values():
            process.send_signal(signal.SIGINT)  # train.py saves a checkpoint and exits.

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    while True:
        campaign = load_campaign(path)
        runs = {r["name"]: r for r in campaign["runs"]}
        order = [r for r in campaign["runs"] if not FLAGS.only or r["name"] in FLAGS.only]

        for name, (process, log) in list(active.items()):
            code = process.poll()
            run = runs.get(name, {"name": name, "flags": {"num_steps": 0}})
            if code is None:
                refresh_state(run, status="running")
                continue
            log.close()
            del active[name]
            if code == 0:
                refresh_state(run, status="done")
                print(f"{_now()} finished {name} at step {run['state'].get('step')}", flush=True)
            else:
                refresh_state(run, status="stopped" if stopping else "failed")
                if not stopping:
                    failed.add(name)
                print(f"{_now()} {name} exited with {code} (see {log.name})", flush=True)
        while not stopping and len(active) < FLAGS.lanes:
            candidates = [r for r in order
                          if r["name"] not in active and r["name"] not in failed
                          and _ready(r, runs)]
            if not candidates:
                break
            run = candidates[0]
            args = command(campaign, run, runs)
            if FLAGS.dry_run:
                print(" ".join(args))
                failed.add(run["name"])  # Not run; keeps the loop from repeating it.
                continue
            os.makedirs(checkpoint_dir(run), exist_ok=True)
            log = open(os.path.join(FLAGS.checkpoint_root, f"{run['name']}.log"), "a")
            log.write(f"\n# {datetime.datetime.now().isoformat()} {' '.join(args)}\n")
            log.flush()
            active[run["name"]] = (subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                                    cwd=REPO), log)
            refresh_state(run, status="running")
            print(f"{_now()} started {run['name']} (log: {log.name})", flush=True)
        if not FLAGS.dry_run:
            save_campaign(campaign, path)
        if not active:
            break
        for _ in range(FLAGS.poll_seconds):  # A stop is seen within a second.
            time.sleep(1)
            if stopping:
                break
    if not FLAGS.dry_run:
        write_report(campaign)
    return 1 if failed and not FLAGS.dry_run else 0


def _ready(run, runs):
    """Unfinished, and it has weights of its own or the run it starts from is done."""
    if is_done(run):
        return False
    if checkpoint_step(run) is not None or exports_of(run):
        return True
    parent = _parent(run)
    if parent is None:
        return True
    name, step = parent
    return is_done(runs[name]) if step is None else bool(_milestone(runs[name], step))


def _now():
    return datetime.datetime.now().strftime("%H:%M:%S")


# -- Status and report -----------------------------------------------------------------


def status_lines(campaign):
    lines = ["| run | status | step | of | CPU h | valid (mode: bpp, dB) | exported |",
             "|---|---|---|---|---|---|---|"]
    for run in campaign["runs"]:
        s = run.get("state", {})
        valid = "; ".join(f"{m}: {p['bpp']:.4f}, {p['psnr']:.2f}"
                          for m, p in s.get("valid", {}).items())
        lines.append(f"| {run['name']} | {s.get('status', 'pending')} | {s.get('step', 0)} | "
                     f"{run['flags']['num_steps']} | {s.get('cpu_hours', 0)} | {valid} | "
                     f"{s.get('exported_step', '')} |")
    return lines


def write_report(campaign):
    """docs/campaign/README.md (state table) and curves.png (every run's curve)."""
    import csv

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(FLAGS.curves, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for run in campaign["runs"]:
        try:
            with open(curve_path(run), newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError:
            continue
        # One line per mode and lambda (a variable-rate run has a row per rate).
        keys = sorted({(r["mode"], float(r["lmbda"])) for r in rows})
        for mode, lmbda in keys:
            mine = [r for r in rows if r["mode"] == mode and float(r["lmbda"]) == lmbda]
            steps = [int(r["step"]) for r in mine]
            label = f"{run['name']} {mode}" + (f" {lmbda:g}" if len(keys) > 1 else "")
            axes[0].plot(steps, [float(r["valid_psnr"]) for r in mine], ".-", label=label)
            axes[1].plot(steps, [float(r["valid_bpp"]) for r in mine], ".-", label=label)
            axes[2].plot([float(r["valid_bpp"]) for r in mine],
                         [float(r["valid_psnr"]) for r in mine], ".-", label=label)
    axes[0].set(xlabel="step", ylabel="valid PSNR (dB)")
    axes[1].set(xlabel="step", ylabel="valid bpp (estimated)")
    axes[2].set(xlabel="valid bpp (estimated)", ylabel="valid PSNR (dB)",
                title="trajectory of each run")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    if axes[2].get_legend_handles_labels()[0]:
        axes[2].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(FLAGS.curves, "curves.png"), dpi=110)
    plt.close(fig)

    text = [
        "# The training campaign",
        "",
        "Written by `python scripts/campaign.py --report` (also at the end of every "
        "campaign run) from `campaign.json` and the learning curves beside this page "
        "(`<run>.csv`: step, CPU hours, training means since the previous point, and the "
        "estimated bpp and PSNR on `../shared/data/valid`). Valid points are estimates "
        "(`tfnq.training.validate`); the shipped models' real-file results are in "
        "`docs/results/`.",
        "",
        *status_lines(campaign),
        "",
        "![learning curves](curves.png)",
        "",
        *lever_lines(campaign),
    ]
    with open(os.path.join(FLAGS.curves, "README.md"), "w") as f:
        f.write("\n".join(text))


def _rows(run):
    import csv
    try:
        with open(curve_path(run), newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def lever_point(runs, point):
    """The validation point a lever compares: a run's row at `lmbda` (default the run's)
    at the last step up to `step` and `cpu_hours` (default its last), with
    J = bpp + lambda * MSE."""
    run = runs.get(point["run"])
    rows = [r for r in _rows(run)] if run else []
    if point.get("lmbda") is not None:
        rows = [r for r in rows if float(r["lmbda"]) == float(point["lmbda"])]
    if point.get("mode"):
        rows = [r for r in rows if r["mode"] == point["mode"]]
    if point.get("step") is not None:
        rows = [r for r in rows if int(r["step"]) <= int(point["step"])]
    if point.get("cpu_hours") is not None:
        rows = [r for r in rows if float(r["cpu_hours"]) <= float(point["cpu_hours"])]
    if not rows:
        return None
    row = max(rows, key=lambda r: int(r["step"]))
    lmbda, bpp, psnr = float(row["lmbda"]), float(row["valid_bpp"]), float(row["valid_psnr"])
    # MSE of the mean PSNR (the curve keeps means of per-image values).
    return dict(step=int(row["step"]), cpu_hours=float(row["cpu_hours"]), lmbda=lmbda,
                bpp=bpp, psnr=psnr, mode=row["mode"],
                objective=bpp + lmbda * 255.0**2 / 10 ** (psnr / 10))


def lever_lines(campaign):
    """Markdown: each lever of the campaign file, its question and its points."""
    levers = campaign.get("levers", [])
    if not levers:
        return []
    runs = {r["name"]: r for r in campaign["runs"]}
    lines = ["## Levers", "",
             "Each lever compares validation points of short side-by-side runs (estimated "
             "bits on valid). J = bpp + lambda * MSE, the training objective on valid at "
             "the point's lambda (MSE from the mean PSNR): lower is better; the CPU hours "
             "are each run's own.", ""]
    for lever in levers:
        lines += [f"### {lever['name']}", "", lever.get("question", ""), "",
                  "| point | run | step | CPU h | lambda | bpp | PSNR (dB) | J |",
                  "|---|---|---|---|---|---|---|---|"]
        for point in lever["points"]:
            p = lever_point(runs, point)
            if p is None:
                lines.append(f"| {point['label']} | {point['run']} | (no point yet) | | | | | |")
                continue
            lines.append(f"| {point['label']} | {point['run']} | {p['step']} | "
                         f"{p['cpu_hours']:.2f} | {p['lmbda']:g} | {p['bpp']:.4f} | "
                         f"{p['psnr']:.2f} | {p['objective']:.4f} |")
        if lever.get("finding"):
            lines += ["", lever["finding"]]
        lines.append("")
    return lines


def _lock_path():
    return os.path.join(FLAGS.checkpoint_root, "campaign.lock")


def stop_running():
    """Stops the campaign that runs on this machine (its runs save a checkpoint first)."""
    try:
        with open(_lock_path()) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        print("no campaign is running")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print("no campaign is running")
        return 0
    while True:  # Until its lock is free: every run has saved and exited.
        with open(_lock_path(), "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                time.sleep(1)
    print(f"stopped the campaign (pid {pid})")
    return 0


def main(argv):
    del argv
    if FLAGS.stop:
        return stop_running()
    campaign = load_campaign(FLAGS.campaign)
    if FLAGS.status or FLAGS.report:
        for run in campaign["runs"]:
            if "state" in run or checkpoint_step(run) is not None:
                refresh_state(run)
        if FLAGS.report:
            write_report(campaign)
            save_campaign(campaign, FLAGS.campaign)
        print("\n".join(status_lines(campaign)))
        return 0
    # One campaign per machine: a second one would train the same runs twice.
    os.makedirs(FLAGS.checkpoint_root, exist_ok=True)
    lock = open(_lock_path(), "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        raise app.UsageError(f"a campaign is already running (pid {lock.read().strip()}); "
                             f"stop it with --stop") from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return train(FLAGS.campaign)


if __name__ == "__main__":
    sys.exit(app.run(main))
