"""`lab datagen`, `lab ingest` and `lab pipeline`: data into the sandbox, and the pipeline run."""

from __future__ import annotations

import json
import sys
import time


def cmd_datagen(args) -> int:
    from lab import datagen, ingest

    knobs = {
        "rows": args.rows,
        "dirty": args.dirty,
        "updates": args.updates,
        "reach": args.reach,
        "seed": args.seed,
    }
    if args.out:
        rows = datagen.write_orders(args.out, args.date, **knobs)
        print(f"Wrote {rows} rows to {args.out}")
        return 0
    path = ingest.land_batch(args.date, **knobs)
    print(f"Landed {args.rows} rows for {args.date} at {path}")
    return 0


def cmd_ingest(args) -> int:
    from lab.ingest import files as ingest

    results = ingest.ingest_path(
        args.path, args.date, allow_empty=args.allow_empty, progress=sys.stderr.isatty()
    )
    if not results:
        print(f"error: {args.path} holds no files to ingest.", file=sys.stderr)
        return 1
    for result in results:
        if args.json:
            print(json.dumps(result.as_dict()))
        else:
            mark = "REFUSED" if result.status == "refused" else result.status
            print(f"{mark:<9} {result.file}: {result.message or result}")
    return 1 if any(r.status == "refused" for r in results) else 0


def cmd_pipeline(args) -> int:
    from lab import pipeline, sandbox
    from lab.config import get_settings
    from lab.steps import STEPS

    settings = get_settings()
    if not sandbox.is_prepared(settings):
        sandbox.prepare()
    total = len([s for s in STEPS if not args.step or s.name in args.step])
    print(
        f"Pipeline for {args.date} ({settings.profile} profile, {args.rows} rows, dirty={args.dirty})"
    )
    counter = iter(range(1, total + 1))
    t0 = time.perf_counter()

    def progress(nb) -> None:
        mark = "ok" if nb.success else "FAILED"
        print(
            f"  [{next(counter)}/{total}] {nb.notebook:<28} {nb.seconds:5.1f} s  {mark}", flush=True
        )

    run = pipeline.run_pipeline(
        args.date,
        rows=args.rows,
        dirty=args.dirty,
        run_id=args.run_id,
        steps=args.step,
        settings=settings,
        on_step=progress,
        source_file=args.file,
    )
    print()
    print(summary_text(run, time.perf_counter() - t0))
    if not run.success:
        failed = next(n for n in run.notebooks if not n.success)
        print(f"\nFAILED: {failed.error}", file=sys.stderr)
        return 1
    return 0


def summary_text(run, seconds: float) -> str:
    """The end-of-run summary: what each step did, and where the executed notebooks are."""
    from lab.config import get_settings, shown_path
    from lab.observe import metrics
    from lab.steps import STEPS

    steps = metrics.step_runs(run.run_id)
    counts = {row.step: json.loads(row.counts or "{}") for row in steps.itertuples()}
    lines = [f"Run {run.run_id}: {'succeeded' if run.success else 'FAILED'} in {seconds:.1f} s"]
    for step in STEPS:
        if step.name in counts:
            lines.append(f"  {step.name:<11} {step.summarise(counts[step.name])}")
    lines.append(f"  notebooks   {shown_path(run.folder, get_settings().root)}")
    return "\n".join(lines)
