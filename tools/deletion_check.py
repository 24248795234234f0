"""Delete each feature family of the feature reader (and a few named rules) one at a time and run
its fast tests: every deletion must turn a test red.

    python -m tools.deletion_check

The source is restored after each run (also when a run fails).
"""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAM = ROOT / "qa/readers/features/families.py"
CAND = ROOT / "qa/readers/features/candidates.py"
MODEL = ROOT / "qa/readers/features/model.py"
READER = ROOT / "qa/readers/features/reader.py"
SENT = ROOT / "qa/readers/features/sentences.py"
families = [
    "sentence_family",
    "alignment_family",
    "proximity_family",
    "overlap_family",
    "unit_and_category_family",
    "sides_family",
    "number_and_date_family",
    "surface_family",
    "word_family",
    "shape_family",
]
cases = [(f"family {f}", FAM, f"    {f},\n", "") for f in families]
cases += [
    ("question-type crossing", FAM, "        cross_with_question_type(batch)\n", ""),
    (
        "head/tail candidates",
        CAND,
        """            if ca < ta < cb:
                add(ta, cb, "tail")
            if ca < tb < cb:
                add(ca, tb, "head")""",
        "            pass",
    ),
    ("confidence margin", MODEL, '"margin": float(min(top - runner, 5.0)),', '"margin": 0.0,'),
    (
        "number growing",
        READER,
        "i = complete_number(q, cands, texts, complete_date(q, cands, texts, i))",
        "i = complete_date(q, cands, texts, i)",
    ),
    (
        "date growing",
        READER,
        "i = complete_number(q, cands, texts, complete_date(q, cands, texts, i))",
        "i = complete_number(q, cands, texts, i)",
    ),
    (
        "aliases",
        SENT,
        "            out.setdefault(hit.article.id, {})[m.group(2)] = m.group(1)",
        "            pass",
    ),
]
ok = True
for name, path, old, new in cases:
    src = path.read_text()
    assert src.count(old) == 1, (name, old)
    path.write_text(src.replace(old, new))
    try:
        r = subprocess.run(
            [
                str(ROOT / ".venv/bin/python"),
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                "tests/test_feature_reader.py",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(src)
    red = r.returncode != 0
    failed = next((line for line in r.stdout.splitlines() if line.startswith("FAILED")), "")
    print(f"{'RED  ' if red else 'GREEN'} {name:28s} {failed[:110]}")
    ok &= red
print("every deletion turns a test red" if ok else "SOME DELETION LEFT THE TESTS GREEN")
