"""Follow-up questions: how often a follow-up is understood, and whether it is then answered
from the right article.

    python -m bench.dialogues [--dev]

Resolution (no index needed): each dialogue of testbed/dialogues.json gives a
first question with its gold answer and a follow-up; the follow-up is right
when `resolve` applies the expected rule ("new": left alone) and the resolved
question holds the expected words and none of the excluded ones. Printed
overall, for the dialogues the rules were tuned on and for the held-out ones,
and per rule.

End to end (an index per set): the first question is asked for real, then the
follow-up with the first turn as context, and alone; the figure is how often
the answer (else the first passage) comes from the expected article. The
sample's index is built in a temporary directory; with --dev the dev sets'
indexes too (bench/data/index-<set>, kept for the next run; minutes each).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.common import report
from newsqa.qa.conversation import Turn, resolve
from newsqa.resources import SAMPLE_PUBLISHED, SAMPLE_SOURCE, sample_dir
from testbed import DIALOGUES, SHARED_QA

DATA = Path(__file__).parent / "data"


def resolution_right(dialogue: dict) -> bool:
    first = Turn(dialogue["first"]["question"], answer=dialogue["first"]["answer"])
    got = resolve(dialogue["follow_up"], [first])
    return (
        got.rule.value == dialogue["rule"]
        and all(part in got.question for part in dialogue["contains"])
        and not any(part in got.question for part in dialogue["excludes"])
    )


def build(index_dir: Path, sources: list[Path], *extra: str) -> None:
    if (index_dir / "CURRENT").is_file():
        return
    argv = [sys.executable, "-m", "newsqa", "index", "build", *map(str, sources), "--index", str(index_dir)]
    subprocess.run([*argv, *extra], check=True, capture_output=True)


def end_to_end(index_dir: Path, items: list[dict]) -> dict:
    from newsqa.qa.answerer import Answerer

    answerer = Answerer.load(index_dir)

    def cited(result) -> str:
        if result.answer is not None:
            return result.answer.article.title
        return result.hits[0].article.title if result.hits else ""

    with_context = alone = 0
    checked = [d for d in items if d["article"]]
    for d in checked:
        first = answerer.ask(d["first"]["question"])
        article = (
            first.answer.article.id if first.answer else (first.hits[0].article.id if first.hits else None)
        )
        turn = Turn(
            first.question, first.resolved_question, first.answer.text if first.answer else None, article
        )
        with_context += d["article"] in cited(answerer.ask(d["follow_up"], context=[turn]))
        alone += d["article"] in cited(answerer.ask(d["follow_up"]))
    n = max(len(checked), 1)
    return {
        "dialogues": len(checked),
        "article_with_context": round(with_context / n, 3),
        "article_alone": round(alone / n, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dev", action="store_true", help="Also end to end on the dev sets (builds indexes)."
    )
    args = parser.parse_args()

    items = json.loads(DIALOGUES.read_text(encoding="utf-8"))["dialogues"]
    groups: dict[str, list[bool]] = defaultdict(list)
    for d in items:
        ok = resolution_right(d)
        for key in ("all", f"split={d['split']}", f"set={d['set']}", f"rule={d['rule']}"):
            groups[key].append(ok)
    rows = [
        {"group": key, "dialogues": len(oks), "right": sum(oks), "accuracy": round(sum(oks) / len(oks), 3)}
        for key, oks in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0]))
    ]
    report("dialogues-resolution", rows)

    e2e = []
    with tempfile.TemporaryDirectory(prefix="newsqa-dialogues-") as tmp:
        sample_index = Path(tmp) / "sample"
        build(sample_index, [sample_dir()], "--source", SAMPLE_SOURCE, "--published", SAMPLE_PUBLISHED)
        e2e.append({"set": "sample", **end_to_end(sample_index, [d for d in items if d["set"] == "sample"])})
        if args.dev:
            for name in sorted({d["set"] for d in items} - {"sample"}):
                index_dir = DATA / f"index-{Path(name).stem}"
                build(index_dir, [SHARED_QA / name])
                e2e.append({"set": name, **end_to_end(index_dir, [d for d in items if d["set"] == name])})
    report("dialogues-end-to-end", e2e)


if __name__ == "__main__":
    main()
