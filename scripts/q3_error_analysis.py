"""Which words and letters the Q3 models get wrong, counted from their test predictions.

    python -m scripts.q3_error_analysis [--seeds 42 1 2] [--results_dir results/q3]   # after make q3

Reads the greedy column of `{no-attn,attn}-seed{S}-test-beam5-predictions.tsv` (written by
`hw2-q3.py test`) and data/train.tsv, pools the seeds, and writes error_analysis.json and
error_analysis.md: word error rate by kind of word (length, capital, doubled letter,
silent-letter spelling, rare letter, pronunciation already in training), how many wrong
words are wrong only in their capitals or their doubled letters, and, from the
Levenshtein alignment of each wrong word, which letters are missed, added or replaced.
"""
import re
from collections import Counter
from pathlib import Path

import Levenshtein

import utils

MODELS = {"no-attn": "No attention", "attn": "Attention"}
VOWELS = set("aeiouy")
LENGTH_BINS = ((1, 4), (5, 6), (7, 8), (9, 10), (11, 99))
# letters written but not pronounced, in patterns whose silence is regular enough to find by spelling
SILENT_LETTER_PATTERNS = {"initial kn/wr/gn/ps": r"^(kn|wr|gn|ps)", "final mb": r"mb$", "gh": r"gh",
                          "final consonant + e": r"[^aeiouy]e$"}
RARE_LETTER_SHARE = 0.005  # a test word's letter (case ignored) is rare below this share of the training letters


def read_predictions(path, column="greedy"):
    """-> [(pronunciation, spelling, prediction)] from a predictions TSV of hw2-q3.py test."""
    if not path.is_file():
        raise utils.UserError(f"{utils.absolute(path)}: no such predictions file; run `make q3` (hw2-q3.py test "
                              "writes it)")
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    columns = header.split("\t")
    if column not in columns:
        raise utils.UserError(f"{path}: no {column!r} column (it has {', '.join(columns)})")
    index = columns.index(column)
    return [(fields[0], fields[1], fields[index]) for fields in (row.split("\t") for row in rows)]


def squeeze_doubles(word):
    return re.sub(r"(.)\1", r"\1", word)


def length_label(length_bin):
    low, high = length_bin
    return f"{low}+ letters" if high == LENGTH_BINS[-1][1] else f"{low}-{high} letters"


def word_kinds(pronunciation, spelling, training_pronunciations, rare_letters):
    """The kinds of word this test word belongs to (a word can be several)."""
    kinds = ["all words", length_label(next(b for b in LENGTH_BINS if b[0] <= len(spelling) <= b[1]))]
    if spelling[:1].isupper():
        kinds.append("capitalised")
    if re.search(r"(.)\1", spelling.lower()):
        kinds.append("doubled letter")
    kinds += [f"silent letter: {name}" for name, pattern in SILENT_LETTER_PATTERNS.items()
              if re.search(pattern, spelling.lower())]
    if any(letter in rare_letters for letter in spelling.lower()):
        kinds.append("rare letter")
    if pronunciation in training_pronunciations:
        kinds.append("pronunciation in training")
    return kinds


def analyse(triples, train_pairs):
    """Counts over (pronunciation, spelling, prediction) triples -> a JSON-ready dict."""
    letter_counts = Counter("".join(spelling.lower() for _, spelling in train_pairs))
    total_letters = sum(letter_counts.values())
    test_letters = set("".join(spelling.lower() for _, spelling, _ in triples))
    rare_letters = {c for c in test_letters if letter_counts[c] / total_letters < RARE_LETTER_SHARE}
    training_spellings = {}  # pronunciation -> the training words that sound so
    for pronunciation, spelling in train_pairs:
        training_spellings.setdefault(pronunciation, set()).add(spelling)
    kinds = {}
    wrong = [(s, p) for _, s, p in triples if p != s]
    final_e = [(s, p) for _, s, p in triples if re.search(SILENT_LETTER_PATTERNS["final consonant + e"], s.lower())]
    for pronunciation, spelling, prediction in triples:
        for kind in word_kinds(pronunciation, spelling, training_spellings, rare_letters):
            counts = kinds.setdefault(kind, {"words": 0, "wrong": 0})
            counts["words"] += 1
            counts["wrong"] += prediction != spelling
    operations = Counter()
    gold_letters = Counter()
    missed, added, replaced = Counter(), Counter(), Counter()
    missed_h_after = Counter()  # the letter before each missed h: ch, gh, ph, ...
    for spelling, prediction in wrong:
        for op, gold_at, predicted_at in Levenshtein.editops(spelling, prediction):
            operations[op] += 1
            if op == "delete":
                missed[spelling[gold_at]] += 1
                if spelling[gold_at] == "h" and gold_at > 0:
                    missed_h_after[spelling[gold_at - 1].lower()] += 1
            elif op == "insert":
                added[prediction[predicted_at]] += 1
            else:
                replaced[(spelling[gold_at], prediction[predicted_at])] += 1
    for _, spelling, _ in triples:
        gold_letters.update(spelling)
    vowel_for_vowel = sum(n for (g, p), n in replaced.items() if g.lower() in VOWELS and p.lower() in VOWELS)
    order = ["all words", *(length_label(b) for b in LENGTH_BINS), "capitalised", "doubled letter",
             *(f"silent letter: {name}" for name in SILENT_LETTER_PATTERNS), "rare letter", "pronunciation in training"]
    kinds = {kind: kinds[kind] for kind in order if kind in kinds}
    capitalised = [(s, p) for _, s, p in triples if s[:1].isupper()]
    lower_case = [(s, p) for _, s, p in triples if not s[:1].isupper()]
    return {
        "n_words": len(triples),
        "n_wrong": len(wrong),
        "rare_letters": "".join(sorted(rare_letters)),
        "kinds": {kind: {**c, "wer": c["wrong"] / c["words"]} for kind, c in kinds.items()},
        "wrong_only_in_case": sum(s.lower() == p.lower() for s, p in wrong),
        "capitalised_wrong": sum(p != s for s, p in capitalised),
        "capitalised_wrong_only_in_case": sum(p != s and s.lower() == p.lower() for s, p in capitalised),
        "lower_case_words": len(lower_case),
        "lower_case_given_a_capital": sum(p[:1].isupper() for _, p in lower_case),
        "wrong_only_in_doubling": sum(s.lower() != p.lower() and squeeze_doubles(s.lower()) == squeeze_doubles(p.lower())
                                      for s, p in wrong),
        "wrong_by_one_edit": sum(Levenshtein.distance(s, p) == 1 for s, p in wrong),
        "spelled_as_training_homophone": sum(p != s and p in training_spellings.get(pr, ())
                                             for pr, s, p in triples),
        "final_e_words": len(final_e),
        "final_e_dropped": sum(not p.lower().endswith("e") for _, p in final_e),
        "edit_operations": dict(operations),
        "vowel_for_vowel_substitutions": vowel_for_vowel,
        "most_replaced": [[g, p, n] for (g, p), n in replaced.most_common(10)],
        "most_missed": [[c, n, n / gold_letters[c]] for c, n in missed.most_common(8)],
        "most_added": [[c, n] for c, n in added.most_common(8)],
        "missed_h_digraphs": [[f"{c}h", n] for c, n in missed_h_after.most_common(5)],
    }


def markdown(analysis, seeds):
    models = list(analysis)
    first = analysis[models[0]]
    lines = [f"Greedy test predictions of seeds {', '.join(map(str, seeds))} pooled: "
             f"{first['n_words']:,} word predictions per model.", "",
             "| kind of word | words | " + " | ".join(f"WER, {MODELS[m].lower()}" for m in models) + " |",
             "|---|---|" + "---|" * len(models)]
    for kind, counts in first["kinds"].items():
        kind_label = f"rare letter ({rare_letters_label(first['rare_letters'])})" if kind == "rare letter" else kind
        cells = [f"{analysis[m]['kinds'][kind]['wer']:.3f}" if kind in analysis[m]["kinds"] else "–" for m in models]
        lines.append(f"| {kind_label} | {counts['words']:,} | " + " | ".join(cells) + " |")
    lines += ["", "What the wrong words have wrong, and the letters behind it:", "",
              "| count | " + " | ".join(MODELS[m].lower() for m in models) + " |",
              "|---|" + "---|" * len(models)]
    rows = [("wrong words", lambda a: f"{a['n_wrong']:,}"),
            ("one edit away", lambda a: share(a["wrong_by_one_edit"], a["n_wrong"])),
            ("wrong only in capitals", lambda a: share(a["wrong_only_in_case"], a["n_wrong"])),
            ("capitalised words wrong, of them only in their capitals",
             lambda a: f"{a['capitalised_wrong']:,}, {share(a['capitalised_wrong_only_in_case'], a['capitalised_wrong'])}"),
            ("lower-case words predicted with a capital",
             lambda a: share(a["lower_case_given_a_capital"], a["lower_case_words"])),
            ("wrong only in doubled letters", lambda a: share(a["wrong_only_in_doubling"], a["n_wrong"])),
            ("spelled as the training word that sounds the same",
             lambda a: f"{a['spelled_as_training_homophone']:,} of {a['kinds'].get('pronunciation in training', {}).get('words', 0):,}"),
            ("true spelling ends in consonant + e, prediction has no final e",
             lambda a: share(a["final_e_dropped"], a["final_e_words"])),
            ("letters missed / added / replaced", lambda a: " / ".join(
                f"{a['edit_operations'].get(op, 0):,}" for op in ("delete", "insert", "replace"))),
            ("replacements vowel for vowel", lambda a: share(a["vowel_for_vowel_substitutions"],
                                                            a["edit_operations"].get("replace", 0)))]
    lines += [f"| {label} | " + " | ".join(cell(analysis[m]) for m in models) + " |" for label, cell in rows]
    last = analysis[models[-1]]
    lines += ["", f"{MODELS[models[-1]]}, most frequent confusions (true → predicted, count): "
              + ", ".join(f"{g} → {p} ({n})" for g, p, n in last["most_replaced"]) + ".",
              "Letters most often missed (count, share of that letter's occurrences): "
              + ", ".join(f"{c} ({n}, {rate:.1%})" for c, n, rate in last["most_missed"]) + ".",
              "Letters most often added: " + ", ".join(f"{c} ({n})" for c, n in last["most_added"]) + ".",
              "Missed h, by the letter before it: " + ", ".join(f"{d} ({n})" for d, n in last["missed_h_digraphs"]) + "."]
    return "\n".join(lines) + "\n"


def rare_letters_label(letters):
    plain = [c for c in letters if c.isascii()]
    others = len(letters) - len(plain)
    return " ".join(plain) + (f" and {others} accented or other symbols" if others else "")


def share(part, whole):
    return f"{part:,} ({part / whole:.0%})" if whole else "0"


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--data_dir", default="data/")
    parser.add_argument("--results_dir", default="results/q3")
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    train = utils.load_p2g(args.data_dir, splits=("train",))[0]["train"]
    train_pairs = list(zip(train.pronunciations, train.spellings))
    analysis = {}
    for model in MODELS:
        triples = [t for seed in args.seeds
                   for t in read_predictions(results / f"{model}-seed{seed}-test-beam5-predictions.tsv")]
        analysis[model] = analyse(triples, train_pairs)
    utils.write_json(results / "error_analysis.json", {"seeds": args.seeds, **analysis})
    text = markdown(analysis, args.seeds)
    utils.write_text(results / "error_analysis.md", text)
    print(text)


if __name__ == "__main__":
    utils.run_main(main)
