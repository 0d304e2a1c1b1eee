"""Phrase cues the n-gram features cannot see: threats of violence and slur-free hate against a group.

A threat ("I know where you live and I will come for you") or a dehumanising generalisation ("Jews control
the media") uses no obscene word and no slur; its words are all ordinary and each is common in benign text
("kill" in "killer deal", "control" in "birth control"). What marks it is the *construction*: a speaker
promising violence to the reader, a violent verb aimed at a named group, a group said to be vermin or to run
the world, a call to throw a group out. :class:`CueCounts` counts these constructions in normalised text
(lower-case tokens joined by spaces, :mod:`moderator.model.features`) as four features that every
classifier except obscenity's can weigh:

- ``cue_threat_person``: first person + violent verb + second/third person object, or a fixed threat
  formula ("watch your back", "you're dead", "I know where you live");
- ``cue_threat_group``: violence or removal aimed at a plural group noun;
- ``cue_dehumanise``: a group noun said to be vermin, animals, a disease, criminals by nature;
- ``cue_conspiracy_exclusion``: a group said to control institutions, or to be banned, deported, kept out.

The patterns are deliberately narrow (a violent word alone never fires: "killer app", "the match was a
massacre", "the police shot the suspect"), and the classifiers learn how much each is worth from the
training data. :data:`GROUP_NOUNS` is the list of group nouns the group cues look for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

# Plural (or collective) nouns naming groups of people by religion, origin, ethnicity, orientation, gender,
# disability, age or politics; plus the generic ones hate speech uses for them.
GROUP_NOUNS: tuple[str, ...] = (
    "muslims", "islamists", "moslems", "jews", "christians", "hindus", "sikhs", "buddhists", "atheists",
    "catholics", "mormons", "pakistanis", "indians", "bangladeshis", "afghans", "arabs", "iranians", "turks",
    "kashmiris", "punjabis", "pashtuns", "tamils", "chinese", "asians", "africans", "nigerians", "somalis",
    "mexicans", "latinos", "hispanics", "blacks", "whites", "gypsies", "roma", "immigrants", "migrants",
    "refugees", "foreigners", "asylum seekers", "palestinians", "israelis", "russians", "ukrainians",
    "poles", "romanians", "irish", "gays", "lesbians", "homosexuals", "queers", "trans people",
    "transgender people", "bisexuals", "women", "feminists", "disabled people", "cripples", "retards",
    "autistic people", "deaf people", "old people", "boomers", "democrats", "republicans", "liberals",
    "conservatives", "leftists", "communists", "black people", "white people", "brown people",
    "gay people", "these people", "those people", "their kind", "them all", "that lot",
)
_GROUP = "(?:" + "|".join(re.escape(g) for g in sorted(GROUP_NOUNS, key=len, reverse=True)) + ")"
_I = r"(?:i|i'll|ill|i'm|im|we|we'll|we're|i've|me and my \w+|my \w+ and i)"
_WILL = r"(?:will|shall|'ll|am going to|m going to|am gonna|m gonna|gonna|going to|gon na|wanna|want to|" \
        r"would love to|'d love to|should|ought to|must|are going to|are gonna|re going to|re gonna)"
_VIOLENT = (r"(?:kill|murder|stab|shoot|strangle|choke|hurt|beat|bash|bury|burn|cut|slit|slice|gut|hang|"
            r"lynch|rape|hunt|torture|break|smash|punch|skin|behead|decapitate|drown|shank|cap|end|destroy|"
            r"wreck|cripple|maim|slaughter|butcher|execute|snap|crush|set fire to|run over|blow up)")
_PERSON = r"(?:you|u|ya|your|ur|yours|him|her|his|them|their)"
_FILLER = r"(?:\S+ ){0,5}?"  # up to five words between the parts

_THREAT_PERSON = [
    rf"\b{_I} (?:\S+ )?{_WILL} {_FILLER}{_VIOLENT}\w* (?:\S+ )?{_PERSON}\b",
    rf"\b{_I} (?:will|'ll|am going to|m going to|am gonna|m gonna) (?:come|be coming) (?:for|after) {_PERSON}\b",
    rf"\b{_I} (?:know|found|find out|have) (?:where|your address|where {_PERSON})\b.{{0,40}}\b(?:live|lives|sleep)",
    rf"\b(?:gonna|gon na) {_FILLER}{_VIOLENT}\w* (?:\S+ )?{_PERSON}\b",
    r"\b(?:i know where you live|watch your back|you(?:'re| are| r) (?:a )?dead (?:man|meat|woman)?|"
    r"you(?:'re| are| r) (?:so )?dead\b|your days are numbered|you won't (?:live|survive|see)|"
    r"sleep with one eye open|i will find you|i'll find you|you will (?:die|pay|regret|bleed|suffer)|"
    r"you(?:'ll| will) be (?:sorry|next|found)|put you in (?:the |a )?(?:hospital|ground|grave|coffin)|"
    r"(?:hope|wish) (?:you|u) (?:die|get (?:shot|killed|raped|stabbed|hit))|"
    r"(?:go )?(?:kill|hang|shoot) (?:yourself|urself)|"
    r"(?:someone|somebody) (?:should|needs to|ought to) (?:\S+ )?(?:kill|shoot|stab|hang|hurt|beat) "
    r"(?:you|u|him|her))\b",
]
_THREAT_GROUP = [
    rf"\b(?:kill|murder|shoot|gas|hang|lynch|exterminate|eradicate|slaughter|massacre|bomb|burn|nuke|"
    rf"wipe out|round up|get rid of|purge|cleanse|eliminate|execute|drown|hunt down|line up)\w* "
    rf"(?:\S+ )?(?:all |every |the |those |these |more |some )?(?:of )?(?:the )?{_GROUP}\b",
    rf"\b{_GROUP} (?:\S+ )?(?:should|must|need to|needs to|ought to|deserve to|will|have to|are going to) "
    rf"(?:all )?(?:be |get )?(?:killed|shot|gassed|hanged|hung|lynched|exterminated|wiped out|burned|burnt|"
    rf"bombed|eradicated|slaughtered|executed|eliminated|purged|die|hang|burn|rot)\b",
    rf"\b(?:bullet|bullets|rope|noose|gas chambers?|ovens?|bomb) (?:\S+ ){{0,3}}?(?:all |every |the |those |these )*"
    rf"{_GROUP}\b",
    rf"\b(?:death to|kill all|shoot all|gas all|hang all|exterminate all)(?: the)? {_GROUP}\b",
]
_DEHUMANISE = [
    rf"\b{_GROUP} (?:are|r|is|were) (?:\S+ )?(?:all |just |nothing but |no better than |like |basically |"
    rf"simply |a bunch of |a pack of |a plague of |a race of |born |natural |subhuman )*(?:a |an )?"
    rf"(?:\S+ )?(?:animals|vermin|rats|parasites|cockroaches|roaches|insects|maggots|leeches|savages|"
    rf"subhumans?|sub humans?|apes|monkeys|dogs|pigs|beasts|filth|scum|trash|garbage|disease|diseases|"
    rf"cancer|plague|virus|infestation|invaders|invasion|criminals|rapists|terrorists|thieves|"
    rf"pedophiles|paedophiles|barbarians|primitive|inferior|degenerates|degenerate|not human|less than human|"
    rf"a threat|evil|the enemy|breeding|breed)\b",
    rf"\b{_GROUP} (?:breed|multiply|spread|swarm|infest)\w* (?:like|across|over|into)\b",
    rf"\b(?:every|each|all|any) (?:single |last |one of (?:the |those |these )?)?{_GROUP}\b.{{0,30}}"
    rf"\b(?:criminal|rapist|terrorist|thief|animal|vermin|parasite|savage|liar|traitor)s?\b",
]
_CONSPIRACY_EXCLUSION = [
    rf"\b{_GROUP} (?:\S+ )?(?:control|controls|run|runs|own|owns|rule|rules|secretly run|are behind|"
    rf"pull the strings|are plotting|plot|are replacing|want to replace|are taking over|take over|infiltrate|"
    rf"infiltrated|manipulate|orchestrate)\w*\b",
    rf"\b(?:ban|deport|expel|kick out|throw out|keep out|send back|ship back|get rid of|remove|exclude|"
    rf"lock up|sterilise|sterilize)\w* (?:all |every |the |those |these )*(?:of )?(?:the )?{_GROUP}\b",
    rf"\b{_GROUP} (?:\S+ )?(?:should|must|need to|needs to|ought to|have to) (?:all )?(?:be )?"
    rf"(?:banned|deported|expelled|kicked out|thrown out|kept out|sent back|shipped back|go back|"
    rf"locked up|removed|sterilised|sterilized|not be allowed|never be allowed|leave|get out)\b",
    rf"\bno (?:more )?{_GROUP} (?:allowed|welcome|wanted|in our)\b",
    rf"\b{_GROUP} (?:have|has) no (?:place|right|business) (?:in|to|here)\b",
]

CUES: dict[str, re.Pattern[str]] = {
    name: re.compile("|".join(f"(?:{p})" for p in patterns))
    for name, patterns in (("cue_threat_person", _THREAT_PERSON), ("cue_threat_group", _THREAT_GROUP),
                           ("cue_dehumanise", _DEHUMANISE), ("cue_conspiracy_exclusion", _CONSPIRACY_EXCLUSION))
}
_NAMES = np.array(list(CUES), dtype=object)
# A cue can only match a document holding one of its words: the regular expressions run only then (most
# comments hold none of the group nouns, and the patterns cost far more than a set lookup per token).
_GROUP_WORDS = frozenset(w for g in GROUP_NOUNS for w in g.split()[:1])
_GATES: dict[str, frozenset[str]] = {
    "cue_threat_person": frozenset({"you", "u", "ya", "your", "ur", "yours", "him", "her", "his", "them",
                                    "their", "yourself", "urself", "sleep"}),
    "cue_threat_group": _GROUP_WORDS, "cue_dehumanise": _GROUP_WORDS, "cue_conspiracy_exclusion": _GROUP_WORDS,
}


def cue_counts(doc: str) -> list[int]:
    """How often each cue of :data:`CUES` matches the normalised document ``doc``."""
    tokens = set(doc.split())
    return [sum(1 for _ in pattern.finditer(doc)) if not tokens.isdisjoint(_GATES[name]) else 0
            for name, pattern in CUES.items()]


class CueCounts(BaseEstimator, TransformerMixin):
    """Pipeline step: ``log1p`` of the count of each phrase cue in normalised text (stateless)."""

    def fit(self, X: Sequence[str], y: Any = None) -> CueCounts:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return _NAMES.copy()

    def counts(self, X: Sequence[str]) -> np.ndarray:
        """Dense ``(n, len(CUES))`` array of the features."""
        rows = [cue_counts(doc) for doc in X]
        return np.log1p(np.asarray(rows, dtype=np.float64).reshape(-1, len(CUES)))

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        return sp.csr_matrix(self.counts(X))
