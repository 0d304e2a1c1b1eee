"""Training rows the team wrote, for what the corpora teach wrong or not at all.

The corpora mention some groups mostly in abuse (TRAC-1's South Asian political comments, Stormfront,
Davidson), never show a threat of violence as what it is, and label slur-free hate too rarely for a linear
model to learn it. :func:`augmentation_examples` generates, from the templates below (written for this
module, kept disjoint from the hand-written evaluation sets in ``data/*_eval.jsonl``, which
``tests/test_eval_disjoint.py`` checks):

- ``benign_identity``: friendly, ordinary sentences that name a group (about oneself, a neighbour, a
  colleague, a community), and counter-speech defending one: no label but 0 for ``hate_speech`` and
  ``personal_attack``;
- ``group_hate``: dehumanising generalisations, conspiracy tropes, calls for exclusion and threats against a
  group, with no slur: ``hate_speech`` 1;
- ``person_threat``: threats of violence or harm against the reader or a person: ``personal_attack`` 1,
  ``hate_speech`` 0;
- ``violent_trap``: violent words in benign use (praise, sport, games, cooking, news reporting of an
  attack): 0 for both.

Every identity term appears in benign and hateful rows alike, so that in these rows the term itself
predicts nothing. The rows are deterministic (seeded) and go into training only, as the corpus ``augment``.

:data:`IDENTITY_TERMS` (the words naming a group) also serve :func:`identity_pattern`, which training uses
to re-weight corpus rows (:func:`moderator.training.train.identity_weights`) and to neutralise identity
features for ``personal_attack``.
"""

from __future__ import annotations

import random
import re
from functools import cache

from moderator.training.datasets import ATTACK, HATE, Example

AUGMENT_CORPUS = "augment"

# (adjective or singular, plural noun phrase) of each group.
GROUPS: tuple[tuple[str, str], ...] = (
    ("Muslim", "Muslims"), ("Pakistani", "Pakistanis"), ("Hindu", "Hindus"), ("Indian", "Indians"),
    ("Black", "Black people"), ("Sikh", "Sikhs"), ("atheist", "atheists"), ("Arab", "Arabs"),
    ("Jewish", "Jews"), ("Christian", "Christians"), ("Catholic", "Catholics"), ("Buddhist", "Buddhists"),
    ("Bangladeshi", "Bangladeshis"), ("Afghan", "Afghans"), ("Kashmiri", "Kashmiris"), ("Punjabi", "Punjabis"),
    ("Pashtun", "Pashtuns"), ("Tamil", "Tamils"), ("Chinese", "Chinese people"), ("Asian", "Asians"),
    ("African", "Africans"), ("Nigerian", "Nigerians"), ("Somali", "Somalis"), ("Mexican", "Mexicans"),
    ("Latino", "Latinos"), ("Hispanic", "Hispanics"), ("white", "white people"), ("immigrant", "immigrants"),
    ("refugee", "refugees"), ("Palestinian", "Palestinians"), ("Israeli", "Israelis"), ("Iranian", "Iranians"),
    ("Polish", "Poles"), ("Romanian", "Romanians"), ("Roma", "Roma people"), ("gay", "gay people"),
    ("lesbian", "lesbians"), ("bisexual", "bisexual people"), ("trans", "trans people"),
    ("transgender", "transgender people"), ("disabled", "disabled people"), ("deaf", "deaf people"),
    ("autistic", "autistic people"), ("blind", "blind people"), ("elderly", "elderly people"),
    ("teenage", "teenagers"), ("female", "women"), ("feminist", "feminists"), ("Democrat", "Democrats"),
    ("Republican", "Republicans"), ("liberal", "liberals"), ("conservative", "conservatives"),
    ("socialist", "socialists"), ("Mormon", "Mormons"),
)

# Words naming a group (lower case, singular and plural): every GROUPS word plus common variants.
IDENTITY_TERMS: tuple[str, ...] = tuple(sorted({
    *(w.lower() for adj, plural in GROUPS for w in (adj, plural.split()[0])),
    "islam", "islamic", "jew", "judaism", "hinduism", "sikhism", "christianity", "pakistan", "india",
    "gays", "lesbian", "transgender", "homosexual", "homosexuals", "queer", "blacks", "whites", "arabic",
    "mexico", "africa", "nigeria", "china", "immigrant", "immigrants", "migrant", "migrants", "refugee",
    "woman", "women", "girl", "girls", "democrat", "republican", "liberals", "conservatives",
}))

_VOWEL = re.compile(r"^[aeiouAEIOU]")


def _a(word: str) -> str:
    return ("an " if _VOWEL.match(word) else "a ") + word


# {adj}, {a_adj} ("a Muslim" / "an Indian"), {pl}, {Pl} (capitalised plural)
BENIGN_IDENTITY = (
    "As {a_adj} grandmother of three, I think the council should fix the potholes on Mill Road first.",
    "My {adj} flatmate cooked dinner for everyone on our floor tonight, what a star.",
    "The {adj} couple across the landing lent us their ladder when the gutter overflowed.",
    "The {adj} students at my college ran the best charity bake sale this term.",
    "Proud to be {adj}, and proud of the volunteers who cleaned up the riverbank on Sunday.",
    "My colleague is {adj} and she just got promoted to head of accounts, well deserved.",
    "Shout-out to the {adj} family two doors down for the basket of mangoes!",
    "I'm {adj} and I agree with the columnist's point about bus fares going up again.",
    "Many {pl} in my district voted in the municipal election for the first time this year.",
    "The {adj} community hall downtown is hosting a chess tournament on Saturday morning.",
    "Reading this as {a_adj} subscriber: the reporting on the budget was balanced.",
    "{Pl} deserve the same rights and the same respect as everyone else in this country.",
    "It is wrong to blame {pl} for the actions of a handful of criminals.",
    "My oldest friend from the rowing club is {adj}, and we still phone each other every week.",
    "I have {adj} cousins abroad and they follow this election story closely.",
    "Speaking as {a_adj} voter, I care about clean drinking water more than slogans.",
    "The {adj} pharmacist on the corner always remembers my mother's prescription.",
    "Welcoming {pl} into our parish choir has made Sunday mornings livelier.",
    "Warm wishes to all the {adj} families reading this over the holidays.",
    "My son's cricket coach is {adj} and the kids on the team adore him.",
    "Two {adj} engineers joined our firm in March and they have been brilliant colleagues.",
    "Some of the most generous people I have ever met are {pl}.",
    "I married into {a_adj} family and my in-laws make the best Sunday lunch.",
    "Great interview with {a_adj} nurse about working night shifts during the floods.",
    "{Pl} have been part of this city's history for generations, and the museum exhibit shows it well.",
    "Calling {pl} vermin is disgusting, and the council was right to condemn that leaflet.",
    "The claim that {pl} secretly run the banks is an old lie and the article debunks it nicely.",
    "Nobody should be threatened for being {adj}; the police need to take these reports seriously.",
    "Being {adj} is not a crime, and neither is disagreeing with the minister.",
    "The report quotes a man who said {pl} should be deported, and then shows why he was wrong.",
    "My {adj} landlord fixed the boiler within an hour of my call, can't complain.",
    "Our book club has {adj} members and we argue mostly about endings, not politics.",
)

GROUP_HATE = (
    "{Pl} are vermin and should be treated like it.",
    "{Pl} are nothing but parasites living off our taxes.",
    "{Pl} breed like rats and are swamping our towns.",
    "{Pl} are a disease spreading through this country.",
    "Every last one of those {pl} is a savage.",
    "{Pl} are not even human, they are animals.",
    "{Pl} secretly run the banks and the newspapers, open your eyes.",
    "The {pl} are behind every war and every crash.",
    "{Pl} are plotting to replace us in our own land.",
    "{Pl} pull the strings in parliament and everyone knows it.",
    "{Pl} should be banned from entering this country for good.",
    "Deport every single one of the {pl}, no exceptions.",
    "Keep {pl} out of our neighbourhood and out of our schools.",
    "{Pl} have no place in our nation and never will.",
    "No {pl} should ever be allowed to vote or hold office.",
    "{Pl} are born criminals, it is in their blood.",
    "{Pl} are filth and the world would be better without them.",
    "Someone should burn down every {adj} home in this town.",
    "{Pl} will be hunted down and shot like dogs.",
    "We will wipe the {pl} off the face of the earth.",
    "Round up the {pl} and put them in camps.",
    "All {pl} deserve to die slowly.",
    "The only good {adj} is a dead one.",
    "{Pl} are subhuman trash who should go back where they crawled from.",
    "Never trust {pl}, they are liars and thieves by nature.",
    "{Pl} are a plague on decent society and must be removed.",
    "Throw the {pl} out before they take over completely.",
    "{Pl} control the courts, the schools and the media.",
)

# {who}: an optional name or address at the start
PERSON_THREAT_CORE = (
    "I will find out where you live and break both your legs",
    "you had better watch your back, I am coming for you tonight",
    "one more reply like that and you will be eating through a straw",
    "I am going to put a knife in you when this thread is over",
    "one more word and you are dead, I promise",
    "I'll hunt you down and make you suffer",
    "keep talking and I will smash your face in",
    "I know your address and I will burn your house down with you inside",
    "next time I see you I will beat you senseless",
    "you won't live to see next week",
    "I'm going to shoot you and nobody will miss you",
    "your family will pay for this, I will make sure of it",
    "I will slit your throat while you sleep",
    "we know where your kids go to school, think about that",
    "I'm gonna wait outside your office and hurt you badly",
    "I will wring your neck like a chicken",
    "you are going to end up in a ditch, mark my words",
    "I'll make sure you never walk again",
    "I swear I will kill you if you post that again",
    "people like you get stabbed, and you will be next",
    "I hope someone shoots you on your way home",
    "I will turn up at your door one night and you won't see it coming",
    "meet me outside and I'll break your jaw",
    "I'm going to find you and cut you",
    "you will regret this when I get my hands on you",
)
WHO = ("", "Hey {name}, ", "{name}: ", "Listen {name}, ", "Mr {name}, ", "To the author: ", "@{name} ")
NAMES = ("Imran", "Ayesha", "Rahul", "Priya", "Tom", "Sarah", "Bilal", "Fatima", "Gurpreet", "Kevin",
         "Nadia", "Mike", "Zainab", "Arjun", "Chloe", "Hassan", "Deepak", "Linda", "Omar", "Sunita")
ENDINGS = ("", ".", "!", " and that is a promise.", ". Don't test me.", " you worthless coward.", "!!")

VIOLENT_TRAP = (
    "This phone's battery life is a killer feature at that price.",
    "I'd murder a curry right now after that commute.",
    "Our goalkeeper absolutely killed it in the second half.",
    "Police said the suspect shot two people outside the bank before he was arrested.",
    "The villain stabs the detective in the final scene, the acting was superb.",
    "The stand-up set at the pub slayed the whole room.",
    "I'm dying to find out how the vote count ends.",
    "The boxer knocked his rival out cold in round three.",
    "This deadline is going to kill me, three reports due on Friday.",
    "In the game you have to shoot the zombies before they reach the base.",
    "The senator's speech murdered any chance of a compromise.",
    "Traffic on the ring road this morning was murder.",
    "Drop-dead gorgeous sunset over the harbour tonight.",
    "Grandad used to hunt deer every autumn in the hills.",
    "Ten soldiers were killed in the attack, the ministry confirmed on Tuesday.",
    "We got slaughtered five-nil by the visitors, painful to watch.",
    "The article says the attacker threatened to kill the shop owner before fleeing.",
    "Chop the onions finely and beat the eggs before adding the flour.",
    "The new tax plan will hit pensioners hardest, according to the report.",
    "The striker shot from thirty yards and the keeper never saw it.",
    "Our team crushed them in the quiz final, best night of the year.",
    "That guitar solo absolutely slays.",
    "The storm destroyed half the greenhouses on the allotment.",
    "The court heard that the defendant had punched a man outside a nightclub.",
    "The humidity in this flat is killing me slowly, send fans.",
    "The documentary about the war crimes trial was hard to watch but important.",
    "If the boss sees this spreadsheet he will kill me, haha.",
    "The chess engine destroyed me in twelve moves.",
    "Witnesses described how the gunman opened fire on the crowd.",
    "The bakery's cinnamon rolls are to die for.",
    "The referee's decision killed the game as a contest.",
    "She fought like a lion in the final set and won the title.",
    "He was shot down in the debate by a question about housing.",
    "The novel's murderer is revealed on the last page, no spoilers.",
)
TRAP_PREFIX = ("", "Honestly, ", "lol ", "Update: ", "Agreed. ", "Wow, ")


@cache
def identity_pattern() -> re.Pattern[str]:
    """Whole-word, case-insensitive match of any :data:`IDENTITY_TERMS` word."""
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in sorted(IDENTITY_TERMS, key=len, reverse=True))
                      + r")\b", re.IGNORECASE)


def _fill(template: str, adj: str, plural: str) -> str:
    return template.format(adj=adj, a_adj=_a(adj), pl=plural, Pl=plural[0].upper() + plural[1:])


def augmentation_examples(seed: int = 20261126) -> list[Example]:
    """Every generated row (deterministic for ``seed``), with ``raw_label`` the template kind."""
    rng = random.Random(seed)
    out: list[Example] = []
    for adj, plural in GROUPS:
        for template in BENIGN_IDENTITY:
            out.append(Example(_fill(template, adj, plural), AUGMENT_CORPUS, {HATE: 0, ATTACK: 0},
                               "benign_identity"))
        for template in GROUP_HATE:
            out.append(Example(_fill(template, adj, plural), AUGMENT_CORPUS, {HATE: 1}, "group_hate"))
    for core in PERSON_THREAT_CORE:
        for who in WHO:
            text = who.format(name=rng.choice(NAMES)) + core
            if who:
                text = text[:len(text) - len(core)] + core[0].lower() + core[1:] if core[:2] != "I " else text
            out.append(Example(text + rng.choice(ENDINGS), AUGMENT_CORPUS, {ATTACK: 1, HATE: 0}, "person_threat"))
    for sentence in VIOLENT_TRAP:
        for prefix in TRAP_PREFIX:
            text = prefix + (sentence[0].lower() + sentence[1:] if prefix and not sentence.startswith(("I ", "I'")) else
                             sentence)
            out.append(Example(text, AUGMENT_CORPUS, {ATTACK: 0, HATE: 0}, "violent_trap"))
    return out
