"""The `lab` command, run in-process through `lab.cli.main`."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lab import contract, datagen
from lab.cli import main

PREPARED_HISTORY_DAYS = 0  # doctor only needs buckets and the customers seed

DOCTOR_PARTS = (
    "settings",
    "warehouse",
    "object storage",
    "dbt project",
    "great expectations",
    "notebooks",
    "sandbox state",
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def doctor_lines(out: str) -> dict[str, str]:
    """{part: line} from doctor's output."""
    lines = {}
    for line in out.splitlines():
        for part in DOCTOR_PARTS:
            if line[5:].startswith(part + " "):
                lines[part] = line
    return lines


def test_doctor_on_a_prepared_sandbox_reports_every_part_ok(prepared_sandbox, capsys):
    code, out, _ = run(capsys, "doctor")
    lines = doctor_lines(out)
    assert set(lines) == set(DOCTOR_PARTS), f"expected a line for each of {DOCTOR_PARTS}:\n{out}"
    not_ok = [line for line in lines.values() if not line.startswith("ok ")]
    assert not not_ok, "expected every part ok on a prepared sandbox, got:\n" + "\n".join(not_ok)
    assert code == 0, f"expected exit 0, got {code}:\n{out}"
    assert f"profile local, state in {prepared_sandbox.home}" in lines["settings"], lines[
        "settings"
    ]
    assert "prepared" in lines["sandbox state"], lines["sandbox state"]


def test_doctor_on_a_fresh_sandbox_says_how_to_prepare_it(capsys):
    code, out, _ = run(capsys, "doctor")
    line = doctor_lines(out).get("sandbox state", "")
    assert line.startswith("FIX"), f"expected a FIX line for the sandbox state, got:\n{out}"
    assert "not prepared yet. Fix: run `lab setup`" in line, line
    assert code == 1, f"expected exit 1 when something needs fixing, got {code}"


def test_doctor_names_the_fix_for_an_unreachable_stack_warehouse(capsys, monkeypatch, free_port):
    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql://postgres@127.0.0.1:{free_port}/warehouse")
    code, out, _ = run(capsys, "doctor")
    line = doctor_lines(out).get("warehouse", "")
    assert line.startswith("FIX") and "Cannot reach the warehouse" in line, out
    assert "\n" not in line and code == 1, out


def test_a_lab_error_prints_one_error_line_and_exits_1(capsys, tmp_path):
    target = tmp_path / "unused.csv"
    code, out, err = run(capsys, "datagen", "--rows", "0", "--out", str(target))
    assert code == 1, f"expected exit code 1 (a learner's error; 2 is for usage), got {code}"
    assert err.count("\n") == 1 and err.startswith("error: "), (
        f"expected one `error:` line: {err!r}"
    )
    assert "rows=0 is out of range. Fix: choose a whole number from 1 to" in err, err
    assert "Traceback" not in err + out, err
    assert not target.exists(), f"expected no file written, found {target}"


def test_datagen_rows_zero_into_the_lake_is_refused_too(capsys, lab_env):
    """(Found failing: without --out, `--rows 0` lands the default 500 rows and says "Landed 0".)"""
    code, out, err = run(capsys, "datagen", "--rows", "0")
    assert code == 1, f"expected exit code 1, got {code} with output {out!r}"
    assert err.startswith("error: rows=0 is out of range"), err
    landed = list((lab_env.home / "lake").rglob("*.csv"))
    assert not landed, f"expected nothing landed, got {landed}"


def test_a_bad_date_prints_one_error_line_and_exits_1(capsys):
    code, _, err = run(capsys, "datagen", "--date", "2026-13-45")
    assert (code, err.count("\n")) == (1, 1), f"got exit {code} and {err!r}"
    assert "error: '2026-13-45' is not a date. Fix: use the ISO form YYYY-MM-DD" in err, err


def test_reset_without_yes_asks_and_a_no_keeps_the_state(capsys, lab_env, monkeypatch):
    import io

    marker = lab_env.home / "keep.txt"
    marker.write_text("learner work")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = run(capsys, "reset")
    assert code == 0, f"expected exit 0 when the learner declines, got {code}"
    assert f"This deletes {lab_env.home} and {lab_env.runs_dir}" in out, out
    assert "Delete them? [y/N]" in out and "Nothing deleted" in out, out
    assert marker.exists(), "expected the state untouched after a no"


def test_reset_with_yes_deletes_the_state_and_the_runs(capsys, lab_env):
    (lab_env.home / "warehouse.duckdb").write_bytes(b"x")
    (lab_env.runs_dir / "run_1").mkdir()
    docs = lab_env.gx_root / "gx" / "uncommitted" / "data_docs"
    docs.mkdir(parents=True)
    code, out, _ = run(capsys, "reset", "--yes")
    assert code == 0, f"expected exit 0, got {code}"
    gone = [p for p in (lab_env.home, lab_env.runs_dir, docs) if p.exists()]
    assert not gone, f"expected these removed: {gone}"
    assert (lab_env.gx_root / "gx" / "great_expectations.yml").exists(), "expected GX config kept"
    assert "Reset done" in out, out


def test_datagen_out_writes_the_batch_as_csv(capsys, tmp_path):
    target = tmp_path / "orders.csv"
    code, out, _ = run(
        capsys,
        "datagen",
        "--date",
        "2026-11-03",
        "--rows",
        "25",
        "--dirty",
        "0.2",
        "--out",
        str(target),
    )
    assert code == 0, f"expected exit 0, got {code}"
    assert out.strip() == f"Wrote 25 rows to {target}", out
    written = pd.read_csv(io.BytesIO(target.read_bytes()), dtype=str, keep_default_na=False)
    expected = datagen.make_orders("2026-11-03", rows=25, dirty=0.2)
    pd.testing.assert_frame_equal(written, expected.astype(str))


def test_datagen_help_states_the_update_limits_datagen_enforces(capsys):
    with pytest.raises(SystemExit):
        main(["datagen", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"0.0-{contract.MAX_UPDATES}" in text, text
    assert f"1-{contract.UPDATE_MAX_DAYS_BACK}" in text, text


def test_datagen_updates_and_reach_reach_the_generator(capsys, tmp_path):
    target = tmp_path / "orders.csv"
    args = ["--date", "2026-11-03", "--rows", "400", "--updates", "0.1", "--reach", "3"]
    code, _, err = run(capsys, "datagen", *args, "--out", str(target))
    assert code == 0, err
    written = pd.read_csv(io.BytesIO(target.read_bytes()), dtype=str, keep_default_na=False)
    expected = datagen.make_orders("2026-11-03", rows=400, updates=0.1, reach=3)
    pd.testing.assert_frame_equal(written, expected.astype(str))
    code, _, err = run(capsys, "datagen", *args[:-1], "9", "--out", str(target))
    assert code == 1 and "from 1 to 7" in err, f"expected a refused reach of 9, got {code}: {err}"


def test_datagen_lands_the_batch_in_the_lake(capsys, lab_env):
    code, out, _ = run(capsys, "datagen", "--date", "2026-11-03", "--rows", "12")
    landed = lab_env.home / "lake" / "raw" / "orders" / "date=2026-11-03" / "orders.csv"
    assert code == 0 and landed.is_file(), f"expected {landed} (exit {code}): {out}"
    assert out.strip() == "Landed 12 rows for 2026-11-03 at raw/orders/date=2026-11-03/orders.csv"
    assert len(pd.read_csv(landed)) == 12


def test_an_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_jupyter_passes_options_it_does_not_know_to_jupyterlab(monkeypatch, lab_env):
    """`make lab JUPYTER_ARGS="--no-browser"` reaches JupyterLab instead of an argparse error."""
    started = {}
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        monkeypatch.setenv(name, "")  # restored after the test; the command sets them
    monkeypatch.setattr("lab.sandbox.is_prepared", lambda: True)
    monkeypatch.setattr(
        "os.execve", lambda path, command, env: started.update(command=command, env=env)
    )
    assert main(["jupyter", "--port", "8899", "--no-browser", "--ServerApp.token=t"]) == 0
    command = started["command"]
    assert "--port=8899" in command and command[-2:] == ["--no-browser", "--ServerApp.token=t"], (
        command
    )
    assert "--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb" in command
    assert started["env"]["JUPYTER_PATH"].startswith(str(lab_env.home)), started["env"]
    assert not os.environ.get("JUPYTER_PATH", "").startswith(str(lab_env.home)), (
        "the kernel settings are JupyterLab's: this process's environment must not keep them"
    )


def test_unknown_options_of_other_commands_are_still_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def make(*args: str) -> subprocess.CompletedProcess:
    """A make target as a learner runs it, from a shell where `lab` is not on PATH."""
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    env.pop("VIRTUAL_ENV", None)
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        ["make", "-s", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_progress_and_make_grade_run_lab_without_an_activated_environment(lab_env):
    progress = make("progress")
    assert progress.returncode == 0, progress.stderr
    assert progress.stdout.split()[:3] == ["lesson", "task", "1"], progress.stdout
    graded = make("grade", "N=9")
    assert graded.returncode != 0 and "There is no exercise '9'" in graded.stderr, graded
    unsaid = make("grade")
    assert unsaid.returncode != 0, unsaid
    assert "Which exercise? Fix: make grade N=1 (an exercise number)" in unsaid.stderr, unsaid.stderr
