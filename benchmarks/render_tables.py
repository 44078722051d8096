"""The benchmarks' README tables, rendered from their committed JSON results.

    python benchmarks/render_tables.py           # rewrite the tables in place
    python benchmarks/render_tables.py --check   # exit 1 when a README table differs from its JSON

A table lives between ``<!-- BEGIN TABLE name -->`` and ``<!-- END TABLE name -->`` in its
README; :data:`TABLES` says which JSON renders it and how. ``tests/test_benchmark_tables.py``
runs the check, so a figure in a README cannot drift from its JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _f(x: float) -> str:
    return f"{x:.3f}"


def aisfx_real(d: dict[str, Any]) -> str:
    """Every variant of ``aisfx_real.json``: the four main ones (both input layouts, pretrained
    and random weights, all three tasks), then the pretrained network's explorations."""
    order = ["pretrained/blocks", "random/blocks", "pretrained/clip", "random/clip"]
    models = {k: d["models"][k] for k in order if k in d["models"]}
    models.update({k: v for k, v in d["models"].items() if k not in models})
    lines = [
        "| variant | P@5 | R@10 | hit@10 | median rank | CatID top-1 | Category top-1 "
        "| near-dup P / R (held out) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    first = next(iter(models.values()))["more_like_this"]
    for name, m in models.items():
        mlt = m["more_like_this"]
        cat = m["categorisation"]
        nd = m.get("near_duplicates")
        if nd is not None:
            held = nd["cosine_and_duration"]["held_out"]
            p = sum(f["precision"] for f in held) / len(held)
            r = sum(f["recall"] for f in held) / len(held)
            near = f"{_f(p)} / {_f(r)}"
        else:
            near = "—"
        lines.append(
            f"| `{name}` | {_f(mlt['p_at_5'])} | {_f(mlt['r_at_10'])} | {_f(mlt['hit_at_10'])} "
            f"| {mlt['median_first_rank']:.0f} | {_f(cat['catid']['logreg']['top1'])} "
            f"| {_f(cat['category']['logreg']['top1'])} | {near} |"
        )
    cat = next(iter(models.values()))["categorisation"]
    lines.append(
        f"| chance / majority class | {_f(first['chance_p_at_5'])} | "
        f"{_f(first['chance_r_at_10'])} | {_f(first['chance_hit_at_10'])} | "
        f"— | {_f(cat['catid']['logreg']['majority_baseline'])} | "
        f"{_f(cat['category']['logreg']['majority_baseline'])} | — |"
    )
    lines.append("")
    lines.append(
        f"{first['queries']} queries among {first['pool']} distinct sounds "
        f"({d['labelled']} labelled, {len(d['labels'])} labels); near-duplicates: "
        f"{d.get('copied_sounds', d['distinct_sounds'])} sounds with six copies each, every "
        "sound a negative; categorisation: logistic regression, leave-one-out / 10-fold."
    )
    return "\n".join(lines)


def bridge_synthetic(d: dict[str, Any]) -> str:
    """The zero-shot / trained / fused table of ``bridge_synthetic.json``."""
    modes = ("zero_shot", "trained", "fused")
    rows = [
        ("R@1", "R@1"),
        ("R@5", "R@5"),
        ("R@10", "R@10"),
        ("MRR", "MRR"),
        ("category hit@1", "category_hit@1"),
    ]
    lines = [
        f"| test frames ({d['test_queries']}) | zero-shot | trained | fused |",
        "|---|--:|--:|--:|",
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(_f(d[m][key]) for m in modes) + " |")
    titles = d.get("by_title", {})
    for kind, label in (("informative", "informative titles"), ("take_nn", '"Take NN" titles')):
        if kind in titles:
            t = titles[kind]
            lines.append(
                f"| R@1, {label} ({t['queries']}) | " + " | ".join(_f(t[m]) for m in modes) + " |"
            )
    lines.append("")
    lines.append(
        f"Seed {d['seed']}; {d['machine']['cpus']} CPU cores, torch on "
        f"{d['machine']['torch_threads']} thread(s); {d['seconds']['total']:.0f} s; chance R@1 "
        f"{d['chance']['R@1']:.3f}, MRR {d['chance']['MRR']:.3f}."
    )
    return "\n".join(lines)


# table name → (README, JSON, renderer)
TABLES: dict[str, tuple[Path, Path, Callable[[dict[str, Any]], str]]] = {
    "aisfx_real": (ROOT / "benchmarks/README.md", RESULTS / "aisfx_real.json", aisfx_real),
    "bridge_synthetic": (
        ROOT / "benchmarks/README_bridge.md",
        RESULTS / "bridge_synthetic.json",
        bridge_synthetic,
    ),
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN TABLE {re.escape(name)} -->\n)(.*?)(<!-- END TABLE {re.escape(name)} -->)",
        re.S,
    )


def rendered(name: str) -> tuple[str, str]:
    """(the README's text now, the README's text with the table rendered from its JSON)."""
    readme, result, render = TABLES[name]
    text = readme.read_text()
    pattern = _block(name)
    if not pattern.search(text):
        raise SystemExit(f"{readme}: no '<!-- BEGIN TABLE {name} -->' block")
    table = render(json.loads(result.read_text()))
    return text, pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(3), text, count=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args()
    stale = []
    for name, (readme, _, _) in TABLES.items():
        now, new = rendered(name)
        if now != new:
            stale.append(f"{readme.relative_to(ROOT)} ({name})")
            if not args.check:
                readme.write_text(new)
    if args.check and stale:
        print("out of date with the JSON: " + ", ".join(stale), file=sys.stderr)
        return 1
    print(("rewrote " if stale else "up to date: ") + (", ".join(stale) or ", ".join(TABLES)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
