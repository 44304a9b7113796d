"""Dataset statistics for a datasheet: label and category balance, lengths, cues and near-copies.

`guardcal datasheet [PATH ...]` prints the tables for each file (the shipped demo splits by
default) and for all of them together; the demo's DATASHEET.md quotes its output. Files load
through `guardcal.records.load_records`, so any BeaverTails-schema file can be measured.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from guardcal.config import resolve_path
from guardcal.policies import BEAVERTAILS_CATEGORIES
from guardcal.records import load_records

DEMO_FILES = (
    resolve_path("package:data/demo/train.jsonl", None),
    resolve_path("package:data/demo/test.jsonl", None),
)
# Surface habits of a response that could give its label away without reading the conversation;
# the datasheet prints each one's rate among safe and among unsafe pairs.
MARKERS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "elision bracket, e.g. [details omitted]": r"\[[^\[\]]*\]",
        "opens with a refusal (I can't, I won't)": (
            r"^\W*(i can'?t|i cannot|i won'?t|i'?m not (going|able)|i will not|i'?d rather not)"
        ),
        "I can't / I won't anywhere": r"\bi (can'?t|cannot|won'?t|will not)\b",
        "opens with sorry": r"^\W*(i'?m )?(so |really |very )?sorry",
        "sorry anywhere": r"\bsorry\b",
        "opens with sure / of course / yes": (
            r"^\W*(sure|of course|absolutely|certainly|yes|yeah|okay|ok|happy to)\b"
        ),
        "opens with here's / here is": r"^\W*here(\s+i|'?s)",
        "disclaimer (please note, consult, ...)": (
            r"\b(please note|i'?m not a (lawyer|doctor)|not (legal|medical) advice"
            r"|consult|be careful)\b"
        ),
        "help line or counselor": r"\b(hotline|crisis line|988|counselor|therapist|helpline)\b",
        "illegal / against the law": r"\b(illegal|against the law|unlawful|a crime)\b",
        "bulleted or numbered list": r"(?m)^\s*([-*\u2022]|\d+[.)])\s",
        "code formatting (backtick)": r"`",
        "exclamation mark": r"!",
        "question mark": r"\?",
    }.items()
}
# The lexical baseline: TF-IDF of prompt + response, logistic regression, C by 5-fold CV on train.
BASELINE_C = tuple(float(c) for c in np.logspace(-2, 3, 11))
# The shared n-gram length whose spread the stats report (a looser bound than the test's 8).
NGRAM = 5
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def words(text: str) -> list[str]:
    """Lower-cased words with punctuation stripped (apostrophes join): the near-copy unit."""
    return re.findall(r"[^\W_]+", text.lower().replace("'", "").replace("\u2019", ""))


def shared_opening(texts: Sequence[str]) -> int:
    """The most opening words that any two of the texts have in common."""
    ordered = sorted(words(t) for t in texts)  # the longest common prefix is between neighbours
    return max((_common_prefix(a, b) for a, b in itertools.pairwise(ordered)), default=0)


def _common_prefix(a: list[str], b: list[str]) -> int:
    """How many leading words two word lists share."""
    return sum(
        1 for _ in itertools.takewhile(lambda pair: pair[0] == pair[1], zip(a, b, strict=False))
    )


def shared_ngrams(texts: Sequence[str], n: int) -> dict[tuple[str, ...], set[int]]:
    """Every run of n words found in two or more of the texts, with the indices of those texts."""
    owners: dict[tuple[str, ...], set[int]] = defaultdict(set)
    for index, text in enumerate(texts):
        w = words(text)
        for start in range(len(w) - n + 1):
            owners[tuple(w[start : start + n])].add(index)
    return {gram: holders for gram, holders in owners.items() if len(holders) > 1}


def longest_shared_run(texts: Sequence[str]) -> int:
    """The length of the longest run of consecutive words that two different texts share."""
    n = 0
    while shared_ngrams(texts, n + 1):  # a shared run of n + 1 words contains one of n words
        n += 1
    return n


def texts_sharing_ngram(texts: Sequence[str], n: int) -> int:
    """How many of the texts share at least one run of n words with another text."""
    return len(set().union(*shared_ngrams(texts, n).values()))


def _share(mask: pd.Series, within: pd.Series) -> str:
    """`count (xx.x %)`: how many rows of `within` also satisfy `mask`, and their share."""
    part, whole = int((mask & within).sum()), int(within.sum())
    return f"{part} ({100 * part / whole:.1f} %)" if whole else str(part)


def balance(frame: pd.DataFrame) -> pd.Series:
    """Pairs, safe/unsafe counts, categories per unsafe pair and prompt-only rows."""
    unsafe = frame["label"] == 1
    every = pd.Series(True, index=frame.index)
    n_cats = frame["categories"].map(len)
    return pd.Series(
        {
            "pairs": str(len(frame)),
            "safe": _share(~unsafe, every),
            "unsafe": _share(unsafe, every),
            "unsafe with 1 category": _share(n_cats == 1, unsafe),
            "unsafe with 2 categories": _share(n_cats == 2, unsafe),
            "unsafe with 3+ categories": _share(n_cats >= 3, unsafe),
            "prompt-only rows": str(int(frame["response"].isna().sum())),
        }
    )


def marker_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Each marker's share (%) of safe and of unsafe responses, and the gap in points."""
    responses = frame["response"].fillna("")
    unsafe = frame["label"] == 1
    rows = {}
    for name, pattern in MARKERS.items():
        hit = responses.map(lambda r, p=pattern: bool(p.search(r)))
        safe_rate, unsafe_rate = 100 * hit[~unsafe].mean(), 100 * hit[unsafe].mean()
        rows[name] = {"safe %": safe_rate, "unsafe %": unsafe_rate, "gap": unsafe_rate - safe_rate}
    return pd.DataFrame(rows).T.round(1)


def baseline_auroc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    """Test AUROC of a bag-of-words guard (TF-IDF of prompt + response, logistic regression with
    C chosen by unshuffled stratified 5-fold CV on train): how far surface words alone get."""
    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=2000)
    )
    grid = GridSearchCV(
        pipe,
        {"logisticregression__C": list(BASELINE_C)},
        cv=StratifiedKFold(5),
        scoring="roc_auc",
        n_jobs=-1,  # the 55 fits on every core: same fits, same choice
    )
    grid.fit(_conversation(train), train["label"])
    return float(roc_auc_score(test["label"], grid.predict_proba(_conversation(test))[:, 1]))


def _conversation(frame: pd.DataFrame) -> list[str]:
    """Prompt and response as one text, the baseline's input."""
    return (frame["prompt"] + "\n" + frame["response"].fillna("")).tolist()


def category_counts(frame: pd.DataFrame) -> pd.Series:
    """Unsafe pairs flagged with each BeaverTails category, in the dataset's category order."""
    flagged = frame.loc[frame["label"] == 1, "categories"].explode().value_counts()
    counts = flagged.reindex(list(BEAVERTAILS_CATEGORIES), fill_value=0).astype(int)
    return counts.rename_axis(None)


def lengths(frame: pd.DataFrame) -> pd.DataFrame:
    """Quantiles of the prompt and response lengths in words."""
    columns = {
        field: frame[field].dropna().map(lambda t: len(words(t))).quantile(QUANTILES)
        for field in ("prompt", "response")
    }
    table = pd.DataFrame(columns).round().astype(int)
    table.index = ["min", "25 %", "median", "75 %", "max"]
    return table


def near_copies(frame: pd.DataFrame) -> pd.Series:
    """The near-copy figures: shared opening words and shared word runs between responses
    (and shared opening words between prompts)."""
    responses = frame["response"].dropna().tolist()
    prompts = frame["prompt"].tolist()
    return pd.Series(
        {
            "max shared opening words, responses": shared_opening(responses),
            "max shared opening words, prompts": shared_opening(prompts),
            "longest shared word run, responses": longest_shared_run(responses),
            f"responses sharing a {NGRAM}-word run": texts_sharing_ngram(responses, NGRAM),
        }
    )


def report(frames: dict[str, pd.DataFrame]) -> str:
    """The datasheet's tables for each named frame and, with several, for all of them together."""
    if len(frames) > 1:
        frames = {**frames, "total": pd.concat(frames.values(), ignore_index=True)}
    blocks = [
        ("Pairs and balance", pd.DataFrame({k: balance(f) for k, f in frames.items()})),
        (
            "Unsafe pairs per category",
            pd.DataFrame({k: category_counts(f) for k, f in frames.items()}),
        ),
        ("Length in words", pd.concat({k: lengths(f) for k, f in frames.items()}, axis=1)),
        ("Near-copies", pd.DataFrame({k: near_copies(f) for k, f in frames.items()})),
        ("Marker rates, all pairs (% of responses)", marker_rates(_all(frames))),
    ]
    if {"train", "test"} <= frames.keys():
        auroc = baseline_auroc(frames["train"], frames["test"])
        blocks.append(
            (
                "Lexical baseline",
                pd.Series({"TF-IDF + logistic regression, test AUROC": f"{auroc:.3f}"}),
            )
        )
    return "\n\n".join(f"{title}\n{table.to_string()}" for title, table in blocks)


def _all(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The 'total' frame when there are several, else the only one."""
    return frames.get("total", next(iter(frames.values())))


def datasheet(paths: Sequence[Path] = DEMO_FILES) -> str:
    """The datasheet statistics of the given files (the shipped demo splits by default), each
    file named by its stem (by its path when two stems clash); a bad file raises DataError."""
    stems = [Path(path).stem for path in paths]
    names = stems if len(set(stems)) == len(stems) else [str(path) for path in paths]
    return report({name: load_records(path) for name, path in zip(names, paths, strict=True)})
