"""Training rows the team wrote, for what the corpora teach wrong or not at all.

The corpora mention some groups mostly in abuse (TRAC-1's South Asian political comments, Stormfront,
Davidson), never show a threat of violence as what it is, and label slur-free hate too rarely for a linear
model to learn it. :func:`augmentation_examples` generates, from the templates below (written for this
module, kept disjoint from the hand-written evaluation sets in ``data/*_eval.jsonl``, which
``tests/test_eval_disjoint.py`` checks):

- ``benign_identity``: friendly, ordinary sentences and questions that name a group (about oneself, a
  neighbour, a colleague, a community; for women and men by the noun, "I'm a woman who ..."), counter-speech
  defending one, and news reports or quotations that mention a hateful claim to reject it: no label but 0 for
  ``hate_speech`` and ``personal_attack``;
- ``group_hate``: dehumanising generalisations, conspiracy tropes, calls for exclusion, incitement to and
  wishes for violence against a group (women and men among them), with no slur: ``hate_speech`` 1;
- ``group_threat``: threats of violence against a group (attacks planned on its homes, gatherings and
  businesses, arson, weapons, vehicles, mobs), each template filled with a sample of groups: ``hate_speech`` 1;
- ``group_threat_twin``: each group threat's benign twin, same groups, same setting and incidental words, the
  threat taken out (the contrast is the violent construction alone): 0 for both;
- ``group_violence_benign``: sentences naming a group and violence without hate (reporting an attack on a
  group, condemning it, protecting or supporting its members, history, fiction): 0 for both;
- ``person_threat``: threats of violence or harm against the reader or a person: direct, conditional,
  veiled, stalking ("I know where you work"), against family, pets or property, sexual violence, incitement,
  in gangs, time-bound, against a named third person, in online spelling, short and long:
  ``personal_attack`` 1, ``hate_speech`` 0;
- ``person_threat_twin`` (only when asked for, see :func:`augmentation_examples`): a friendly twin of many person
  threats, under some of the threat's openings with the same address and name (the same words where they read
  naturally: "next time I see you", "meet me outside"), the harm replaced by a kindness, an errand or a plan:
  0 for both;
- ``violent_trap``: violent words in benign use (praise, idioms, sport, games, cooking, DIY and gardening,
  fiction, history, medicine, hunting, business, news and court reporting of an attack or of a threat): 0
  for both.

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
    "The article reports that protesters chanted that {pl} should leave the country; shameful to read.",
    "Claiming all {pl} are criminals is precisely the prejudice this report sets out to document.",
    "My grandad was told {pl} weren't welcome on his street; thank goodness things have changed since.",
    "The leaflet described {pl} as an invasion, and the library was right to take it off the noticeboard.",
    "A witness told the court the attacker had yelled that {pl} should be wiped out; he was convicted.",
    "I keep seeing posts saying {pl} can't be trusted, and that is bigotry, plain and simple.",
    "The historian shows how rumours that {pl} poisoned the wells were spread to justify mob violence.",
    "Repeating the line that {pl} are animals, even as a joke, is how this stuff becomes normal. Don't.",
    "If you think {pl} are taking over, look at the actual figures: they say nothing of the sort.",
    "Does anyone know a good {adj} bakery near the station? Asking for my mum's birthday.",
    "The census shows the number of {pl} in the county grew slightly over the last ten years.",
    "Are there any {adj} parents here who would like to help with the school's reading club?",
    "Our local paper ran a lovely piece on the {adj} volunteers at the food bank this week.",
)

# Groups named by a noun rather than an adjective ("a woman", not "a female"): (singular, plural). The same
# groups in benign and hateful rows, men as well as women, so that the noun itself predicts nothing here.
GENDER_NOUNS: tuple[tuple[str, str], ...] = (("woman", "women"), ("man", "men"))

# {n}, {a_n} ("a woman"), {ns}, {Ns}
BENIGN_GENDERED = (
    "I'm {a_n} who cycles to work, and the new bike lane on Park Street has made my mornings much safer.",
    "As {a_n} in my seventies, I still read the paper cover to cover every Sunday.",
    "The {n} at the ticket office found my lost wallet and handed it in, honest as anything.",
    "A {n} from our street organised the litter pick this weekend and forty people turned up.",
    "{Ns} in my running club raised two thousand pounds for the children's hospital.",
    "Lots of {ns} have written in about the closure of the swimming pool, and they make good points.",
    "The {ns} on the allotments share their spare courgettes with the whole village every August.",
    "Our choir is looking for more {ns} to join, rehearsals are on Thursday evenings.",
    "I'm {a_n} and a season ticket holder, and I think the club got the prices right this year.",
    "Two {ns} from my estate opened a repair cafe and fixed my toaster for free.",
    "{Ns} and their families packed the square for the lantern parade last night.",
    "The {n} who runs the corner cafe remembers everyone's order, friendliest place in town.",
    "Is there {a_n} here who coaches the under-twelves? My daughter wants to join a team.",
    "{Ns} from all over the county came to the careers fair at the library.",
    "As {a_n} who grew up on a farm, I found the piece on milk prices spot on.",
    "The {ns} in our reading group picked a thriller this month and nobody could put it down.",
    "Good on the {n} who stopped to help the lost toddler at the market, that's what community means.",
    "The {ns} who volunteer at the animal shelter walked every dog twice today.",
    "Congratulations to the {n} who won the village baking contest with a lemon tart.",
    "My daughter hopes to be the first {n} in our family to go to university.",
    "How many {ns} voted in the student union election? The turnout figures would be interesting.",
    "i'm {a_n} in my 30s and i still can't afford a flat in this city, the rent piece was spot on",
    "{Ns} make up most of the staff at our local surgery and they are run off their feet.",
    "One {n} in the crowd started singing and soon the whole platform joined in.",
)

GENDERED_HATE = (
    "Giving {ns} a say in anything was the worst mistake this country ever made.",
    "{Ns} are worthless and exist only to serve their betters.",
    "Never hire {a_n}, they are lazy, hysterical and useless by nature.",
    "{Ns} are nothing but animals who should be kept on a leash.",
    "Every {n} who talks back deserves to be beaten into silence.",
    "{Ns} are parasites who have ruined this country.",
    "Ban {ns} from the universities, they do not have the brains for it.",
    "A {n} is only good for one thing and it isn't thinking.",
    "{Ns} are vile creatures and the world would be cleaner without them.",
    "Don't ever listen to {a_n}, every one of them is a lying manipulator.",
    "{Ns} should be stripped of their rights and kept in their place.",
    "I despise {ns}, the whole lot of them are filth.",
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
    "It's time to take up arms and drive the {pl} out of this country for good.",
    "Someone should line the {pl} up against a wall and be done with it.",
    "Grab your bats, lads, tonight we clear the {pl} off our streets.",
    "I pray for the day a plague finishes off the {pl}, every last one.",
    "If a bomb went off at a {adj} wedding I would throw a party.",
    "Torch their shops and homes until the {pl} get the message and leave.",
    "Nothing will get better here until the {pl} are lying in mass graves.",
    "You can't trust a single one of the {pl}, not now and not ever.",
    "The {pl} are being shipped in to replace us, and our leaders are helping them do it.",
    "{Pl} ruin every country they settle in, look at the history.",
    "Why do we keep pretending {pl} can live like civilised people?",
    "Name one thing {pl} have given the world apart from crime and misery.",
    "Hire {a_adj} teacher? I'd pull my kids out of that school the same day.",
    "Scratch the surface of any of the {pl} and you will find a cheat and a traitor.",
)

# Threats of violence against a group: planned attacks on its homes, gatherings and businesses, arson, weapons,
# vehicles, mobs, poisoning; in plain, casual and online spelling. Each is filled with a seeded sample of
# GROUP_THREAT_GROUPS groups, so that they add to group_hate rather than outweigh it, and paired with a benign
# twin (GROUP_THREAT_TWIN).
GROUP_THREAT = (
    "We're meeting in the car park at nine and then we pay the {pl} a visit with crowbars.",
    "Sharpen your machetes, boys, the {pl} have had this coming for years.",
    "Load up the truck, we're heading to where the {pl} live and we won't come back empty handed.",
    "I've got a shotgun and a list of every {adj} household on my street.",
    "Come the day, the {pl} will be the first ones dragged from their beds.",
    "We'll smash the windows of every {adj} business in town and then start on the owners.",
    "Mark my words, the {pl} at the community hall are getting a nasty surprise this weekend.",
    "Gather the lads, we're going to teach the {pl} at the bus station what happens to their kind.",
    "The {pl} marching tomorrow had better wear helmets, we're bringing bricks.",
    "I'd happily drive a lorry through a {adj} street party.",
    "Give me a rifle and a rooftop overlooking the {adj} festival.",
    "Next time the {pl} gather outside the town hall, we start swinging and we don't stop.",
    "Let's set fire to the {adj} hostel while they sleep.",
    "I swear the {pl} on my road will be in body bags before Christmas.",
    "We've got the addresses of the {pl} on the council estate, and tonight we use them.",
    "It is time to start shooting {pl}, the talking is over.",
    "Tie the {pl} to the railings and leave them for the crows.",
    "One match and some diesel would sort out the {adj} families next door for good.",
    "Meet at the pub at eight, then we go hunting {pl} in the park.",
    "When the {pl} walk home from their meeting, we'll be waiting in the alley.",
    "Pipe bombs are cheap and the {adj} club is always packed on a Friday.",
    "I will personally stab the first {adj} person who sets foot in our village.",
    "We need volunteers with baseball bats to clear the {pl} out of the market.",
    "the {pl} near the station r getting jumped tonite, bring ur mates",
    "Poison the water in the {adj} part of town and let nature do the rest.",
    "Our lads have the petrol ready, the {pl} have until Sunday.",
    "Drag the {pl} out of their houses and beat them in the street.",
    "Every {adj} person in this city should fear for their life, because we are coming.",
    "I'm stockpiling ammo for the day we finally go after the {pl}.",
    "kill every {adj} you see, no mercy, no exceptions",
    "Wait till dark, then we torch the {adj} shops one by one and anyone still inside them.",
    "Our group has a plan for the {pl}, and it ends with blood on the pavement.",
    "If the {pl} hold their festival in our park again, it'll be the last one they ever hold.",
    "Someone should gun down the {pl} at their next gathering, and I know a few who would.",
    "Get the dogs and the chains, we're paying the {pl} over the bridge a visit.",
)
GROUP_THREAT_GROUPS = 18

# One benign twin per GROUP_THREAT template, filled with the same groups: the same setting and incidental words
# (a car park, a festival, the weekend, families) with the threat taken out, so that only the violent
# construction separates the two and the words around it predict nothing.
# Row kinds only the linear model trains on: the twins neutralise the threat templates' incidental words for
# n-gram features; the encoder reads words in context and learns the construction from the threats alone
# (measured, docs/benchmarks.md: with the twins the encoder cost Davidson and TweetEval 0.02 ROC AUC and
# flagged more benign identity sentences and threat traps).
LINEAR_ONLY_KINDS = ("group_threat_twin",)
GROUP_THREAT_TWIN = (
    "We're meeting in the car park at nine and then we pay the {pl} a visit with cakes for their open day.",
    "Sharpen your pencils, boys, the {pl} have invited us to their quiz for years.",
    "Load up the truck, we're heading to where the {pl} live with the furniture they asked us to donate.",
    "I've got a van and a list of every {adj} household on my street that wants a lift to the polling station.",
    "Come the day of the fair, the {pl} will be the first ones setting up their stalls.",
    "We'll clean the windows of every {adj} business in town and then have tea with the owners.",
    "Mark my words, the {pl} at the community hall are putting on a lovely surprise this weekend.",
    "Gather the lads, we're going to help the {pl} at the bus station carry the donations.",
    "The {pl} marching tomorrow had better wear sun cream, we're bringing water.",
    "I'd happily drive a minibus to a {adj} street party.",
    "Give me a camera and a rooftop overlooking the {adj} festival.",
    "Next time the {pl} gather outside the town hall, we bring flasks of tea and we stay till the end.",
    "Let's send flowers to the {adj} hostel to welcome them.",
    "I swear the {pl} on my road will have the best lights on the street before Christmas.",
    "We've got the addresses of the {pl} on the council estate, and tonight we deliver their food parcels.",
    "It is time to start listening to {pl}, the shouting is over.",
    "Tie the ribbons for the {pl} to the railings and leave them for the parade.",
    "One barbecue and some music would cheer up the {adj} families next door for good.",
    "Meet at the pub at eight, then we go to the concert with the {pl} in the park.",
    "When the {pl} walk home from their meeting, we'll walk with them so they feel safe.",
    "Tickets are cheap and the {adj} club is always packed on a Friday.",
    "I will personally welcome the first {adj} person who sets foot in our village.",
    "We need volunteers with clipboards to help the {pl} out at the market.",
    "the {pl} near the station r having a party tonite, bring ur mates",
    "Fix the water pipes in the {adj} part of town and let the council pay for it.",
    "Our lads have the paint ready, the {pl} want their hall done by Sunday.",
    "Invite the {pl} out of their houses and dance with them in the street.",
    "Every {adj} person in this city should be proud, because we are coming to the celebration.",
    "I'm saving up for the day we finally go on holiday with the {pl} from work.",
    "greet every {adj} you see, no rudeness, no exceptions",
    "Wait till dark, then we light up the {adj} shops one by one for the festival of lights.",
    "Our group has a plan for the {pl}, and it ends with a street party on the pavement.",
    "If the {pl} hold their festival in our park again, it'll be the best one yet.",
    "Someone should thank the {pl} at their next gathering, and I know a few who would.",
    "Get the dogs and the leads, we're walking with the {pl} over the bridge for charity.",
)
# Reporting of, and standing up to, violence against a group: a group word next to a violent one is not hate
# by itself.
GROUP_VIOLENCE_BENIGN = (
    "Police are investigating an arson attack on {a_adj} family's home and have asked witnesses to come forward.",
    "Volunteers will stand guard outside the {adj} community centre this weekend so everyone feels safe.",
    "The court jailed two men for a violent attack on {pl} outside a takeaway last spring.",
    "Anyone threatening {pl} in this town should expect a knock on the door from the police.",
    "After the firebombing, neighbours raised money to repair the {adj} family's house.",
    "The report documents a rise in assaults on {pl}, most of them never reported to the police.",
    "Our union condemns the attack on {adj} workers at the depot and will support their legal case.",
    "The museum's new exhibition covers the massacres of {pl} in the last century and how survivors rebuilt.",
    "Local councillors met {adj} residents after someone sprayed threats on their doors.",
    "If you see anyone harassing {pl} on the bus, film it and report it.",
    "My {adj} friend was punched in the street last week, and the police have arrested a man.",
    "The documentary follows {adj} survivors of the riots as they testify against the men who attacked them.",
    "The prosecutor said the gang had planned to burn down {a_adj} shop, and all four were convicted.",
    "Security has been stepped up at {adj} events after online threats, the organisers said.",
    "Violence against {pl} is never acceptable, whatever anyone thinks about politics.",
    "We're organising a vigil for the {adj} victims of the attack on Saturday evening.",
    "The charity trains {adj} shopkeepers to deal with abuse and keeps a hotline open at night.",
    "The historian explained how propaganda turned ordinary people against {pl} before the killings began.",
    "Extra patrols will protect the {adj} festival after last year's attack.",
    "Thousands marched to show support for {pl} after the stabbing.",
    "A man who posted that he wanted to shoot {pl} was arrested within hours, police confirmed.",
    "The novel tells the story of {a_adj} family hiding from the mob during the riots.",
    "The hate crime unit says threats against {pl} doubled this year, and it has put more officers on the case.",
    "Teachers will talk to pupils about the attack on the {adj} students and what to do if they feel unsafe.",
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
    # direct violence
    "I am going to cave your skull in with a brick",
    "I'll put you in hospital for a month",
    "I want to wrap my hands round your throat and squeeze until you go quiet",
    "I'm going to run you over with my van and reverse to make sure",
    "I will snap every one of your fingers, one at a time",
    "I'm going to kick your teeth down your throat",
    "I will keep hitting you until you stop breathing",
    "I'm coming over there to stamp your head into the pavement",
    "I will pour petrol through your letterbox and light it",
    "I'm going to hold you under in the canal until the bubbles stop",
    "I will gouge your eyes out with my thumbs",
    "I am going to bury you in the woods where nobody will ever look",
    "I will put a bullet between your eyes",
    "I'll tie you up and leave you in the boot of my car for a week",
    "I will hang you from the nearest lamppost",
    "you're getting a baseball bat to both kneecaps",
    "expect a brick through your window, and the next one goes through your skull",
    "I'll throw acid in your face so nobody looks at you again",
    "I will set you on fire and stand there watching",
    "I'm gonna break your nose so badly your own mother won't know you",
    "I'll choke the life out of you",
    "I will tear you limb from limb",
    "I'm going to leave you unable to stand up for the rest of your life",
    "I'm going to make your death slow",
    "I'll bring a machete next time, not my fists",
    "I'll get hold of a gun and finish this myself",
    "next time we meet, only one of us walks away",
    # conditional
    "if you show your face at the meeting again I'll rearrange it for you",
    "if you report me I will come round and finish you off",
    "post one more lie about me and I'll break both your arms",
    "if you ever touch my sister again you won't wake up",
    "take that review down by tonight or I'll slash your tyres, and then you",
    "if I ever catch you on my street I'll stab you",
    "say that to my face and see if you can still walk afterwards",
    "keep blocking me and I'll come knock on your door with a hammer",
    "if you testify against my brother you are a dead woman",
    "call the police on me again and I will gut you",
    "unless you pay back what you owe by friday I'm breaking your hands",
    "if u ban me again im gonna find u and batter u",
    # veiled or implied
    "nice house you've got, it would be a shame if it caught fire one night",
    "accidents happen to people who talk too much",
    "I would be very careful crossing the road from now on if I were you",
    "be a real pity if something happened to that pretty face of yours",
    "hope your brakes are working properly, just saying",
    "people who write articles like yours have a habit of disappearing",
    "I'd hate for your kids to find out how dangerous the walk home can be",
    "think about how easy it is for someone to slip and fall down a flight of stairs",
    "I'd stop sleeping so soundly if I were you, back doors are easy to open",
    "enjoy your last few days of peace",
    "I'm only worried for your safety, a lot of angry people know your face now and so do I",
    "funny how fragile the human body is, you should keep that in mind",
    "we have ways of dealing with people like you and none of them are pleasant",
    "the clock is ticking on you, and I'm the one holding it",
    "you won't be smiling for much longer, trust me",
    # stalking, doxxing
    "I know where you work and what time your shift ends",
    "I know you drive a silver hatchback, see you in the car park",
    "I've been watching your house for three nights now",
    "I know which school your daughter goes to and what time she walks out of the gate",
    "found your address, see you very soon",
    "I know which gym you use and I'll be waiting by your car when you come out",
    "I followed you home yesterday and you didn't even notice",
    "your address goes up on every forum tonight so everyone can pay you a visit",
    "got your number and your mums address now, lets see how brave you are",
    "nice blue door on your flat by the way, I'll be knocking on it soon",
    # family, pets, property
    "I'll poison that dog of yours",
    "your wife will be a widow by christmas",
    "I'm going to smash up your shop and you along with it",
    "I'll torch your car while you sleep",
    "your little boy won't be safe walking to school any more",
    "I'll hurt your parents first so you can watch",
    "I'm going to kill your cat and leave it on your doorstep",
    "I'll burn your restaurant to the ground with you locked inside",
    # sexual violence
    "I'm going to rape you and film it",
    "I will force myself on you and no one will ever believe you",
    "you need to be held down and taught a lesson, and I'm the one who'll do it",
    # incitement against the reader or a person
    "somebody ought to put a bullet in this clown",
    "someone should teach this guy a lesson with a crowbar",
    "whoever lives near her, go round and smash her windows in",
    "anyone who sees him in town has my blessing to stab him",
    "here is his home address, do whatever you want to him",
    "I hope somebody bashes your skull in with a bottle",
    "can somebody please run this idiot over",
    # with a gang
    "me and my lads are gonna pay you a visit",
    "me and my brothers will be waiting outside your gym tomorrow with bats",
    "the boys and I are driving up tonight to sort you out properly",
    "I've got twenty mates who would happily kick your head in",
    "my cousins know where you live and they don't do warnings",
    # time-bound
    "tonight you get what's coming to you",
    "after work tomorrow I'll be by your car with a knife",
    "when you least expect it I'll be right behind you",
    "by friday you will be in a body bag",
    "on monday morning you'll find out what happens to grasses",
    "this weekend I'm going to end you",
    "one of these nights you will hear footsteps on the stairs and it'll be me",
    # against a named third person
    "that reporter who wrote this needs a bullet and I have one ready for him",
    "the mayor is getting shot at his next rally, I'll make sure of it",
    "that judge will not make it home from court on friday",
    "this moderator is going to get his head kicked in once I find him",
    "I'm going to stab the referee in the car park after the match",
    "the landlord will be found floating in the river if he evicts us",
    "tell your boss I'm coming to break his neck",
    "that councillor deserves a beating and I'm volunteering to give it",
    "whoever wrote this column, I will find them and hurt them",
    "the teacher who gave my kid detention is getting a visit with a bat",
    # online style
    "ur dead",
    "ima beat ur ass when i see u",
    "u better hide bro im coming 4 u",
    "gonna smash ur face in fr",
    "watch urself m8 i know where u live",
    "ur gonna get jumped tmrw",
    "keep talkin n see wat happens to u",
    "i will literaly kill u",
    "I AM GOING TO RIP YOUR HEAD OFF",
    "ur DEAD when i catch u",
    "im gonna stab u lol not even joking",
    "dont let me catch u alone",
    "sleep tight cuz ur not waking up",
    "u r so dead its not even funny",
    "gna shoot up ur house",
    "say it again n ill cut u",
    "ill bust ur head open",
    "wait till i get my hands on u, ur finished",
    "catch u outside, bring an ambulance",
    "yo i got ur addy, pulling up tonite",
    # short and long
    "dead man walking",
    "you're next",
    "run while you still can",
    "I'll end you",
    "you'll bleed for this",
    "start planning your own funeral",
    "count your days",
    ("I have spent the last week learning your routine, when you leave, who you see and which way you walk, and one"
     " of these evenings I will be waiting at the corner with something heavy"),
    ("you think you can hide behind a keyboard, but I have your name, your workplace and your number plate, and"
     " when I turn up you will beg me to stop hitting you"),
    ("let me spell it out: you apologise publicly by noon, or I come to your flat, kick the door in and break every"
     " bone in your hand so you never type again"),
)

# A friendly twin for many PERSON_THREAT_CORE lines: the same speaker, the same "you" and, where it reads
# naturally, the same opening ("next time I see you", "meet me outside"), with the harm replaced by an ordinary
# kindness, errand or plan. Without them the encoder learns the construction (a speaker, a future act, the
# reader) as the attack and flags friendly comments addressed to a reader; with them the harm separates the two.
# Two kinds of threat get no twin (measured, docs/benchmarks.md): those whose violent verb has a harmless sense
# ("shoot you an email", "run you over to the station"), because a twin in that sense taught the encoder that the
# verb is harmless and it missed the threat (the idioms are VIOLENT_TRAP's job), and stalking ("I know where you
# work", "found your address"), which a moderator should see whatever follows it.
# Keyed by the threat so that each twin is written with the threat's address and name.
PERSON_THREAT_TWIN: dict[str, str] = {
    "you had better watch your back, I am coming for you tonight":
        "you had better save me a seat, I am coming to your gig tonight",
    "one more reply like that and you will be eating through a straw":
        "one more reply like that and you will have me laughing all night",
    "one more word and you are dead, I promise": "one more word like that and you are hired, I promise",
    "keep talking and I will smash your face in": "keep talking and I will keep listening, this is fascinating",
    "next time I see you I will beat you senseless": "next time I see you I will buy you lunch",
    "you won't live to see next week": "you won't have to wait until next week, the parcel goes out today",
    "your family will pay for this, I will make sure of it":
        "your family will love this, I will make sure they get a copy",
    "I will slit your throat while you sleep": "I will water your tomatoes while you are away",
    "I'm gonna wait outside your office and hurt you badly":
        "I'm gonna wait outside your office and give you a lift home",
    "you are going to end up in a ditch, mark my words":
        "you are going to end up running this paper one day, mark my words",
    "I'll make sure you never walk again": "I'll make sure you never have to queue for tickets again",
    "I swear I will kill you if you post that again": "I swear I will laugh every time you post that again",
    "I hope someone shoots you on your way home": "I hope someone gives you a lift on your way home, it's pouring",
    "I will turn up at your door one night and you won't see it coming":
        "I will turn up at your door one night with a curry and you won't have to cook",
    "meet me outside and I'll break your jaw": "meet me outside and I'll hand over the spare tickets",
    "you will regret this when I get my hands on you":
        "you will love this when I get my hands on a signed copy for you",
    "I'll put you in hospital for a month": "I'll put you on the guest list for the whole month",
    "I'm coming over there to stamp your head into the pavement":
        "I'm coming over there to help you paint the fence on Saturday",
    "I am going to bury you in the woods where nobody will ever look":
        "I am going to show you a path in the woods where nobody ever goes, the bluebells are incredible",
    "I'll tie you up and leave you in the boot of my car for a week":
        "I'll leave your bike in the boot of my car for you to collect this week",
    "I'll bring a machete next time, not my fists": "I'll bring a proper cake next time, not just biscuits",
    "if you show your face at the meeting again I'll rearrange it for you":
        "if you show your face at the meeting again I'll buy you a coffee afterwards",
    "if you report me I will come round and finish you off":
        "if you report the pothole I will come round and sign the petition with you",
    "post one more lie about me and I'll break both your arms":
        "post one more photo of your garden and I'll be round begging for cuttings",
    "if I ever catch you on my street I'll stab you":
        "if I ever catch you on my street I'll drag you in for a cup of tea",
    "call the police on me again and I will gut you":
        "call me again tomorrow and I will have the forms filled in for you",
    "unless you pay back what you owe by friday I'm breaking your hands":
        "unless you say otherwise by friday I'm booking your table for the dinner",
    "nice house you've got, it would be a shame if it caught fire one night":
        "nice house you've got, it would be lovely to see the garden one summer night",
    "I would be very careful crossing the road from now on if I were you":
        "I would be very careful with that chilli sauce from now on if I were you, it's fierce",
    "be a real pity if something happened to that pretty face of yours":
        "be a real pity if you missed the show, that face of yours would light up",
    "hope your brakes are working properly, just saying":
        "hope your brakes got fixed properly, the garage said Tuesday, just checking",
    "enjoy your last few days of peace": "enjoy your last few days of holiday, you've earned them",
    "you won't be smiling for much longer, trust me": "you won't stop smiling for the whole day, trust me",
    "I'll poison that dog of yours": "I'll walk that dog of yours while you're at work",
    "your wife will be a widow by christmas": "your wife will be a grandmother by christmas, congratulations",
    "I'm going to smash up your shop and you along with it":
        "I'm going to stop by your shop and buy every scone you have",
    "I'll torch your car while you sleep": "I'll wash your car while you sleep in, it's the least I can do",
    "your little boy won't be safe walking to school any more":
        "your little boy will be safe walking to school now the crossing is in",
    "I'm going to kill your cat and leave it on your doorstep":
        "I'm going to feed your cat and leave the key on your doorstep",
    "I'll burn your restaurant to the ground with you locked inside":
        "I'll book your restaurant for the whole party with you cooking inside",
    "me and my lads are gonna pay you a visit": "me and my lads are gonna pay you a visit at the stall on Saturday",
    "the boys and I are driving up tonight to sort you out properly":
        "the boys and I are driving up tonight to sort out your move properly",
    "I've got twenty mates who would happily kick your head in":
        "I've got twenty mates who would happily come to your open mic",
    "after work tomorrow I'll be by your car with a knife":
        "after work tomorrow I'll be by your car with the spare tyre",
    "when you least expect it I'll be right behind you":
        "when you least expect it I'll be right behind you in the queue with your coffee",
    "by friday you will be in a body bag": "by friday you will be in your new flat, good luck with the move",
    "this weekend I'm going to end you": "this weekend I'm going to help you finish the shed",
    "one of these nights you will hear footsteps on the stairs and it'll be me":
        "one of these nights you will hear a knock at the door and it'll be me with pizza",
    "this moderator is going to get his head kicked in once I find him":
        "this moderator is going to get a thank you card once I find his address",
    "tell your boss I'm coming to break his neck": "tell your boss I'm coming to shake his hand",
    "whoever wrote this column, I will find them and hurt them":
        "whoever wrote this column, I will find them and thank them",
    "the teacher who gave my kid detention is getting a visit with a bat":
        "the teacher who coached my kid is getting a visit with flowers",
    "ima beat ur ass when i see u": "ima hug u so hard when i see u",
    "u better hide bro im coming 4 u": "u better be ready bro im coming 4 u at 7",
    "ur gonna get jumped tmrw": "ur gonna get promoted tmrw",
    "i will literaly kill u": "i will literaly owe u forever",
    "ur DEAD when i catch u": "ur BUYING when i catch u at the pub",
    "dont let me catch u alone": "dont let me catch u without a coat",
    "sleep tight cuz ur not waking up": "sleep tight cuz ur up early for the trip",
    "wait till i get my hands on u, ur finished": "wait till i get my hands on ur new book, bet its brilliant",
    "catch u outside, bring an ambulance": "catch u outside, bring an umbrella",
    "you're next": "you're next in the queue",
    "I'll end you": "I'll send you the link",
    ("I have spent the last week learning your routine, when you leave, who you see and which way you walk, and one"
     " of these evenings I will be waiting at the corner with something heavy"):
        ("I have spent the last week learning your recipes, the bread, the dal and the cake, and one of these"
         " evenings I will be waiting at your door with all three for you to judge"),
    ("you think you can hide behind a keyboard, but I have your name, your workplace and your number plate, and"
     " when I turn up you will beg me to stop hitting you"):
        ("you think you can hide behind a keyboard, but I have your name on the guest list, and when I turn up at"
         " your launch you will have to sign my copy"),
    ("let me spell it out: you apologise publicly by noon, or I come to your flat, kick the door in and break every"
     " bone in your hand so you never type again"):
        ("let me spell it out: you pick a date by noon, or I come to your flat and choose the restaurant myself"),
}
FRIENDLY_ENDINGS = ("", ".", "!", " :)", ", cheers.", ". See you soon!", "!!")
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
    "Their defence got absolutely massacred on the counter-attack.",
    "The bowler was hammered for three sixes in the final over.",
    "She smashed the forehand down the line to break back in the third set.",
    "Our fly-half took a brutal hit but played on to the final whistle.",
    "The young fighter choked his opponent out in under a minute, a clean submission.",
    "We murdered the pub team at darts last night.",
    "The sprinter blew the rest of the field away in the final.",
    "The centre-back was sent off for a reckless tackle that nearly broke the winger's ankle.",
    "I kept getting sniped by someone camping on the roof, so annoying.",
    "Finally beat the last boss after dying about forty times.",
    "My paladin one-shots the dragon if you stack fire resistance first.",
    "In this board game you can assassinate another player's king with the spy card.",
    "We wiped on the raid boss six times before anyone bothered to read the mechanics.",
    "Joint the chicken into eight pieces and bash the breasts flat with a rolling pin.",
    "Gut and scale the mackerel, then grill it skin side down.",
    "Whip the cream until stiff and fold it into the beaten egg whites.",
    "Crush the garlic with the flat of the knife before you chop it.",
    "Smash the boiled potatoes roughly and fry them until the edges catch.",
    "Hammer the nails in at an angle so the board doesn't split.",
    "This weedkiller wipes out bindweed without harming the roses.",
    "I hacked back the brambles that were strangling the apple tree.",
    "Cut the power at the fuse box before you rip out the old socket.",
    "The frost killed off all my tomato seedlings overnight.",
    "Drill through the tile slowly or you'll shatter it.",
    "Slugs have murdered my lettuces again; time for copper tape.",
    "Might as well kill two birds with one stone and post the parcel while I'm at the dentist's.",
    "I'm dead tired after the night shift, going straight to bed.",
    "Shoot me an email when the invoice is ready.",
    "Break a leg at the audition tomorrow, you'll be brilliant!",
    "My sister is going to kill me when she sees I ate the last slice.",
    "That joke absolutely killed at the wedding reception.",
    "We need to bury the hatchet before the family reunion.",
    "The new album blew me away, track four especially.",
    "Don't shoot the messenger, I'm only passing on what the manager said.",
    "She nailed the presentation and the clients loved it.",
    "Go on, take a stab at the crossword, I'm stuck on seven down.",
    "This hill climb is brutal but the view from the top is worth it.",
    "I'd kill for a cold drink right now.",
    "Sorry to ambush you with this, but can we move the meeting to Thursday?",
    "The film's opening shootout is the best action scene I've seen in years.",
    "In the third book the queen has her brother poisoned at the feast, a brilliant twist.",
    "The horror remake has a chainsaw scene that made the whole cinema scream.",
    "Great thriller: a hitman is hired to kill a witness and starts to doubt the job.",
    "The play ends with Macbeth's severed head carried on stage, gory but faithful.",
    "Caesar was stabbed to death by senators on the Ides of March.",
    "The castle was besieged for months and most of the garrison starved.",
    "Tens of thousands of soldiers were killed at the Somme on the first day alone.",
    "The court heard he had threatened to burn down his neighbour's house over a parking dispute.",
    "Prosecutors said the man sent messages saying he would shoot his former boss.",
    "The jury was told the defendant shouted that he would kill the bouncer before the fight started.",
    "A 34-year-old man was jailed for six years for stabbing a delivery driver.",
    "Two people were hurt when a car was driven into a crowd outside the stadium, police said.",
    "The bomber set off the device near a checkpoint, according to local officials.",
    "Officers arrested a woman on suspicion of attempted murder after a disturbance in the high street.",
    "The inquest found the climber died from a fall, not foul play.",
    "The rapper was charged with assault after a brawl at the awards after-party.",
    "She was convicted of sending death threats to a local MP and given a restraining order.",
    "Armed police shot and wounded the suspect after a six-hour standoff.",
    "The air force said it had destroyed two drones over the border overnight.",
    "Troops came under heavy fire while evacuating the village.",
    "This antibiotic kills the bacteria within about three days.",
    "Chemotherapy attacks fast-growing cells, which is why hair falls out.",
    "The vaccine trains your immune system to destroy the virus before it spreads.",
    "The surgeon had to cut through the ribcage to reach the heart.",
    "Landed a huge pike this morning and dispatched it quickly with a priest.",
    "The guns shot three brace of pheasants before lunch.",
    "A fox killed four of our hens last night, we need a better fence.",
    "The supermarket is slashing prices on everything in the bakery aisle.",
    "Killer deal on these headphones, half price until Sunday.",
    "The startup is trying to crush the competition with free delivery.",
    "Rising rents are killing off independent shops on the high street.",
    "Our shares got hammered after the earnings call.",
    "The new laptop absolutely destroys last year's model in every benchmark.",
    "I totally butchered the pronunciation of her name, so embarrassing.",
    "My hairdresser massacred my fringe, it'll grow back.",
    "The debate team demolished every argument the other side made.",
    "Fire crews fought the blaze for nine hours before it was under control.",
    # idioms and praise, many in the second person
    "You absolutely destroyed that karaoke song, what a legend.",
    "Go smash it at the trials on Saturday, we're all cheering for you.",
    "Take a shot at the quiz, there's a prize for the winner.",
    "The comedian bombed on opening night, poor guy.",
    "We smashed our fundraising target by noon!",
    "Fire up the barbecue, the sun's finally out.",
    "Beat the rush and book your tickets today.",
    "I'm going to attack this pile of ironing after lunch.",
    "Shoot, I forgot my keys at the office again.",
    "Punch the numbers into the spreadsheet and see what comes out.",
    "You're punching above your weight with that job offer, good for you.",
    "This heat is brutal, stay hydrated everyone.",
    "Let's blow this place and get some food.",
    "Strike while the iron is hot and send them the offer today.",
    "I'll take a crack at fixing the tap myself.",
    "Explosive flavour in this chilli, highly recommend it.",
    "Fight the urge to check your phone before bed.",
    "This cold is killing me, staying in bed with soup.",
    "The trailer dropped and the fans went nuts, it blew up online.",
    "Take aim at your savings goal with this simple budget.",
    "Hit me up if you want a lift to the match.",
    "Our dog goes ballistic whenever the postman comes.",
    "Choke up on the bat a little and you'll make better contact.",
    "The lawyer tore the witness's story apart on cross-examination.",
    "You slayed that interview, the panel loved you.",
    "I'll murder you at Scrabble tonight, prepare to lose.",
    "Blast the music, it's Friday!",
    "Break out the good biscuits, the in-laws are coming.",
)
TRAP_PREFIX = ("", "Honestly, ", "lol ", "Update: ", "Agreed. ", "Wow, ")


@cache
def identity_pattern() -> re.Pattern[str]:
    """Whole-word, case-insensitive match of any :data:`IDENTITY_TERMS` word."""
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in sorted(IDENTITY_TERMS, key=len, reverse=True))
                      + r")\b", re.IGNORECASE)


def _fill(template: str, adj: str, plural: str) -> str:
    return template.format(adj=adj, a_adj=_a(adj), pl=plural, Pl=plural[0].upper() + plural[1:])


def _fill_noun(template: str, noun: str, plural: str) -> str:
    return template.format(n=noun, a_n=_a(noun), ns=plural, Ns=plural[0].upper() + plural[1:])


def _address(opening: str, core: str) -> str:
    """``core`` after an optional ``opening`` ("Hey Imran, "), lower-cased after one unless it starts "I "."""
    return opening + (core[0].lower() + core[1:] if opening and core[:2] != "I " else core)


def augmentation_examples(seed: int = 20261126, person_twins: int = 0) -> list[Example]:
    """Every generated row (deterministic for ``seed``), with ``raw_label`` the template kind.

    ``person_twins``: under how many of a person threat's seven openings (seeded) its friendly twin follows it
    (0: none, the default). The twins trade threats caught for friendly statements left alone, and no setting
    measured so far wins on both (docs/benchmarks.md, "Friendly statements to the reader"): a site whose readers
    talk to each other can train with them (``scripts/train.py --person-threat-twins 7``).
    """
    if not 0 <= person_twins <= len(WHO):
        raise ValueError(f"person_twins must be between 0 and {len(WHO)}, not {person_twins}")
    rng = random.Random(seed)
    out: list[Example] = []
    named = (*((_fill, g, BENIGN_IDENTITY, GROUP_HATE) for g in GROUPS),
             *((_fill_noun, g, BENIGN_GENDERED, GENDERED_HATE) for g in GENDER_NOUNS))
    for fill, (word, plural), benign, hateful in named:
        for template in benign:
            out.append(Example(fill(template, word, plural), AUGMENT_CORPUS, {HATE: 0, ATTACK: 0},
                               "benign_identity"))
        for template in hateful:
            out.append(Example(fill(template, word, plural), AUGMENT_CORPUS, {HATE: 1}, "group_hate"))
    threat_rng = random.Random(seed + 1)  # its own stream: the other kinds' rows stay as they were
    for threat, twin in zip(GROUP_THREAT, GROUP_THREAT_TWIN, strict=True):
        for adj, plural in threat_rng.sample(GROUPS, GROUP_THREAT_GROUPS):
            out.append(Example(_fill(threat, adj, plural), AUGMENT_CORPUS, {HATE: 1}, "group_threat"))
            out.append(Example(_fill(twin, adj, plural), AUGMENT_CORPUS, {HATE: 0, ATTACK: 0},
                               "group_threat_twin"))
    for template in GROUP_VIOLENCE_BENIGN:
        for adj, plural in threat_rng.sample(GROUPS, GROUP_THREAT_GROUPS):
            out.append(Example(_fill(template, adj, plural), AUGMENT_CORPUS, {HATE: 0, ATTACK: 0},
                               "group_violence_benign"))
    twin_rng = random.Random(seed + 2)
    for core in PERSON_THREAT_CORE:
        friendly = PERSON_THREAT_TWIN.get(core)
        twin_openings = (set(range(len(WHO))) if person_twins == len(WHO)
                         else set(twin_rng.sample(range(len(WHO)), person_twins)) if person_twins else set())
        for k, who in enumerate(WHO):
            opening = who.format(name=rng.choice(NAMES))
            out.append(Example(_address(opening, core) + rng.choice(ENDINGS), AUGMENT_CORPUS, {ATTACK: 1, HATE: 0},
                               "person_threat"))
            if friendly is not None and k in twin_openings:
                out.append(Example(_address(opening, friendly) + twin_rng.choice(FRIENDLY_ENDINGS), AUGMENT_CORPUS,
                                   {ATTACK: 0, HATE: 0}, "person_threat_twin"))
    for sentence in VIOLENT_TRAP:
        for prefix in TRAP_PREFIX:
            text = prefix + (sentence[0].lower() + sentence[1:] if prefix and not sentence.startswith(("I ", "I'")) else
                             sentence)
            out.append(Example(text, AUGMENT_CORPUS, {ATTACK: 0, HATE: 0}, "violent_trap"))
    return out
