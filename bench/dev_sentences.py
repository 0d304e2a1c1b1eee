"""Smoke checks used while iterating on the classifier: a few dozen sentences the model team wrote, scored by
a model's intake (linear) view and full model. Not an evaluation set (it is small, it was looked at while
tuning, and it is not held out from decisions): the evaluations are data/*_eval.jsonl and bench/fairness.py.

    python bench/dev_sentences.py [--model PATH]
"""

from __future__ import annotations

import argparse

from moderator import load_model

DEV: list[tuple[str, str]] = [
    ("I'll kill you, I know where you live!!", "personal_attack"),
    ("you better sleep with one eye open tonight pal", "personal_attack"),
    ("gonna smash ur skull in when i see u", "personal_attack"),
    ("Somebody ought to put a bullet in all those Somalis", "hate_speech"),
    ("Muslims are vermin", "hate_speech"),
    ("Gypsies are thieves and should be driven out of town", "hate_speech"),
    ("immigrants are an invasion that must be stopped", "hate_speech"),
    ("the bankers who run this country are all the same tribe, you know who", "hate_speech"),
    ("You are a pathetic moron and everyone here hates you", "personal_attack"),
    ("Check out my channel for free giftcards!!! http://bit.ly/xyz", "spam"),
    ("Comment number 6 with unique words 47514", "clean"),
    ("killer deal for commuters", "clean"),
    ("I'd kill for a good night's sleep", "clean"),
    ("the gunman killed three people, police said", "clean"),
    ("I am a Muslim and I live in Karachi with my family.", "clean"),
    ("My neighbour is Pakistani and he helps everyone on the street.", "clean"),
    ("As a Hindu, I enjoyed reading this piece.", "clean"),
    ("My friend is Black and she is a brilliant teacher.", "clean"),
    ("Sikhs in our town run a free kitchen every Sunday.", "clean"),
    ("I'm an atheist and I respect people of faith.", "clean"),
    ("Arabs and Jews have lived side by side here for centuries.", "clean"),
    ("Indian food is the best, my Indian neighbours taught me to cook dal.", "clean"),
    ("The article says protesters chanted that Jews control the banks.", "clean"),
    ("Great article, thanks for the clear explanation of the budget.", "clean"),
    ("Imran Khan's party lost seats in Punjab, the numbers are in the second chart.", "clean"),
    ("lol this is the best video ever, greetings from Pakistan", "clean"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    full = load_model(args.model)
    for name, model in (("linear", full.linear_view()), ("full", full)):
        print(f"== {name} {model.version} thresholds {model.thresholds}")
        texts = [t for t, _ in DEV]
        for (text, want), scores in zip(DEV, model.predict_proba(texts), strict=True):
            flags = model.flags(scores)
            ok = (want == "clean" and not flags) or want in flags
            print(f"{'ok ' if ok else 'BAD'} {want:<16} {','.join(flags) or '-':<28} "
                  + " ".join(f"{c[:4]}={v:.2f}" for c, v in scores.items()) + f"  {text}")


if __name__ == "__main__":
    main()
