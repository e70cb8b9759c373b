"""The Q3 error analysis on hand-made predictions whose counts are known."""
import json

import pytest

import utils
from scripts import q3_error_analysis as ea

TRAIN = [("k æ t", "cat"), ("d ɔ g", "dog"), ("b ɔ l", "ball"), ("æ k s", "axe")]  # (pronunciation, spelling)
TRIPLES = [  # (pronunciation, true spelling, prediction)
    ("k æ t", "cat", "cat"),
    ("b ɔ l z", "balls", "bals"),  # wrong only in a doubled letter
    ("p æ ɹ ɪ s", "Paris", "paris"),  # wrong only in its capital
    ("n aɪ f", "knife", "nif"),  # silent k and final e both missed
    ("z u", "zoo", "zu"),  # z is rare in the training letters
    ("f oʊ n", "phone", "Fone"),  # a lower-case word given a capital; the h of ph missed
]


def test_counts_of_hand_made_predictions():
    analysis = ea.analyse(TRIPLES, TRAIN)
    assert analysis["n_words"] == 6 and analysis["n_wrong"] == 5
    assert analysis["wrong_only_in_case"] == 1 and analysis["wrong_only_in_doubling"] == 1
    assert analysis["capitalised_wrong"] == 1 and analysis["capitalised_wrong_only_in_case"] == 1
    assert analysis["lower_case_words"] == 5 and analysis["lower_case_given_a_capital"] == 1
    assert analysis["missed_h_digraphs"] == [["ph", 1]]
    analysis = ea.analyse(TRIPLES[:5], TRAIN)
    assert analysis["wrong_by_one_edit"] == 2  # bals, paris (knife -> nif is two, zoo -> zu is two)
    assert analysis["final_e_words"] == 1 and analysis["final_e_dropped"] == 1
    assert analysis["spelled_as_training_homophone"] == 0
    kinds = analysis["kinds"]
    assert kinds["all words"] == {"words": 5, "wrong": 4, "wer": 0.8}
    assert kinds["capitalised"] == {"words": 1, "wrong": 1, "wer": 1.0}
    assert kinds["doubled letter"]["words"] == 2 and kinds["doubled letter"]["wrong"] == 2  # balls, zoo
    assert kinds["silent letter: initial kn/wr/gn/ps"]["words"] == 1
    assert kinds["pronunciation in training"] == {"words": 1, "wrong": 0, "wer": 0.0}
    assert "z" in analysis["rare_letters"] and "a" not in analysis["rare_letters"]
    assert kinds["rare letter"]["words"] == 4  # all but cat have a letter that the tiny training set lacks
    # balls: l missed; Paris: P -> p; knife -> nif: k and e missed; zoo -> zu: o -> u and o missed
    assert analysis["edit_operations"] == {"delete": 4, "replace": 2}
    assert dict((g + p, n) for g, p, n in analysis["most_replaced"]) == {"Pp": 1, "ou": 1}
    assert {c for c, _, _ in analysis["most_missed"]} == {"l", "k", "e", "o"}
    assert list(kinds)[:2] == ["all words", "1-4 letters"]  # the report's row order


def test_main_reads_prediction_files_and_writes_json_and_markdown(tmp_path):
    (tmp_path / "train.tsv").write_text("".join(f"{' '.join(p)}\t{s}\n" for p, s in TRAIN), encoding="utf-8")
    rows = "".join(f"{p}\t{s}\t{g}\t{g}\n" for p, s, g in TRIPLES)
    for model in ea.MODELS:
        (tmp_path / f"{model}-seed7-test-beam5-predictions.tsv").write_text(
            "pronunciation\tspelling\tgreedy\tbeam5\n" + rows, encoding="utf-8")
    ea.main(["--seeds", "7", "--data_dir", str(tmp_path), "--results_dir", str(tmp_path)])
    saved = json.loads((tmp_path / "error_analysis.json").read_text())
    assert saved["seeds"] == [7] and saved["attn"]["n_wrong"] == 5
    table = (tmp_path / "error_analysis.md").read_text(encoding="utf-8")
    assert "| all words | 6 | 0.833 | 0.833 |" in table
    assert "| capitalised words wrong, of them only in their capitals | 1, 1 (100%) | 1, 1 (100%) |" in table
    assert "Missed h, by the letter before it: ph (1)." in table


def test_missing_file_or_column_is_one_clear_error(tmp_path):
    with pytest.raises(utils.UserError, match="no such predictions file"):
        ea.read_predictions(tmp_path / "none.tsv")
    path = tmp_path / "p.tsv"
    path.write_text("pronunciation\tspelling\tsample\na\tb\tc\n", encoding="utf-8")
    with pytest.raises(utils.UserError, match="no 'greedy' column"):
        ea.read_predictions(path)


def test_a_test_word_spelled_as_its_training_homophone_is_counted():
    analysis = ea.analyse([("k æ t", "Kat", "cat"), ("d ɔ g", "Dogge", "dog"), ("d ɔ g", "dog", "dog")], TRAIN)
    assert analysis["spelled_as_training_homophone"] == 2
    assert analysis["kinds"]["pronunciation in training"] == {"words": 3, "wrong": 2, "wer": 2 / 3}
