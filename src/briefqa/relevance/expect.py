"""What a question asks for: the kind of answer, the thing it asks about, and where a sentence states it.

Staff ask "How many trips did Uber complete?", "Who scored the winner?", "Why did Baku open an embassy?".
The first two want a span — a number, a name — that a sentence of the passages must contain, and that the
answer opens with; the third wants an explanation. Knowing which is what lets the answerer (a) prefer
sentences that hold such a span, (b) abstain when none does ("how many trips" is not answered by a sentence
about revenue), and (c) say the span first. This is classic expected-answer-type analysis, by patterns: it
is deterministic, explainable and fast, and the learned sentence scorer (:mod:`briefqa.relevance.scorer`) weighs its
signals rather than trusting them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: Kinds whose answer is a span of a sentence.
SPAN_KINDS = ("date", "number", "amount", "percent", "duration", "measure", "person", "place", "organisation",
              "name")
NAME_KINDS = ("person", "place", "organisation", "name")

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                 "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
                 "hundred|thousand|dozen|dozens|hundreds|thousands|millions|billions")
_SCALE = r"(?:\s?(?:million|billion|trillion|thousand|hundred|m|bn|k)\b)?"
_QUANT = (r"(?:(?:about|around|roughly|nearly|almost|over|more than|less than|fewer than|up to|at least|"
          r"some|just|only|an estimated)\s+)?")
_NUM = rf"(?:\d[\d,]*(?:\.\d+)?(?:[a-z]{{1,3}}\b)?{_SCALE}|(?:a|an)\s+(?:dozen|hundred|thousand|million|billion)|" \
       rf"(?:{_NUMBER_WORDS})(?:[ -](?:{_NUMBER_WORDS}))*{_SCALE})"
_UNITS_TIME = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|seasons?|games?)"
_UNITS_MEASURE = (r"(?:mm|cm|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?|m|km|kilomet(?:er|re)s?|"
                  r"inch(?:es)?|in|feet|foot|ft|yards?|miles?|kg|kilos?|kilograms?|g|grams?|pounds|lbs?|tons?|"
                  r"tonnes?|mph|km/h|gb|tb|mb|ghz|mhz|mah|kwh|mw|gw|watts?|w|liters?|litres?|acres?|hectares?|"
                  r"square (?:feet|metres|meters|miles|kilometres)|nanomet(?:er|re)s?|micromet(?:er|re)s?|"
                  r"microns?|degrees?|calories|carats?|horsepower|hp|bpm|fps|pixels?|megapixels?)")

SPAN_RES = {
    "date": re.compile(
        rf"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?(?:(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?"
        rf"(?:\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?|"
        rf"(?:early |mid-|late |the end of |the start of )?(?:{_MONTHS})\.?\s+\d{{4}}|"
        rf"(?:in |since |by )?(?:1[89]|20)\d\d|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b", re.I),
    "amount": re.compile(rf"{_QUANT}(?:[$£€¥]|[A-Z]{{1,3}}\$|\$[A-Z]{{1,2}}\s?)\s?{_NUM}|{_QUANT}{_NUM}\s+"
                         rf"(?:dollars|pounds|euros|yen|yuan|rupees|francs|kronor|pesos)\b", re.I),
    "percent": re.compile(rf"{_QUANT}{_NUM}\s?(?:%|per ?cent\b|percentage points?\b)", re.I),
    "duration": re.compile(rf"{_QUANT}{_NUM}[ -]{_UNITS_TIME}\b|\b(?:a|an|one)\s+(?:day|week|month|year|decade)\b",
                           re.I),
    "measure": re.compile(rf"{_QUANT}{_NUM}\s?-?{_UNITS_MEASURE}\b", re.I),
    "number": re.compile(rf"{_QUANT}(?<![\w.]){_NUM}(?:\s?%)?(?![\w])", re.I),
    "quote": re.compile(r"[“\"‘]([^”\"’]{2,80})[”\"’]"),
}
# Capitalised runs: names of people, places, organisations and works ("Michael Mayer", "Fifth Third",
# "Silent Night", "Ella Toone"), allowing the connectors names contain.
_NAME = re.compile(r"(?<![\w’'])[A-Z][\w’'.&-]*(?:(?:\s+|\s*-\s*)(?:(?:of|de|la|le|von|van|der|du|da|the|and|&|y)\s+)?"
                   r"[A-Z][\w’'.&-]*)*")
# All-capital titles that precede a person's name: "Google CEO Sundar Pichai" answers with "Sundar Pichai".
_TITLES = re.compile(r"^(?:.*\s)?(?:CEO|CFO|COO|CTO|MP|MEP|President|Senator|Sen\.|Rep\.|Dr\.|Prof\.|Judge|Coach|"
                     r"Chairman|Chair|Director|Minister|Secretary|Governor|Gov\.|General|Gen\.|founder|chief)\s+")

ORG_WORDS = ("compan(?:y|ie)|firm|lender|bank|team|club|band|label|record label|airline|brand|network|studio|"
              "body|alliance|coalition|consortium|association|partnership|committee|council|board|"
              "university|agency|group|startup|publisher|broadcaster|retailer|carmaker|maker|manufacturer|"
              "organi[sz]ation|party|union|fund|investor|insurer|league|newspaper|outlet|channel|app|platform|"
              "service|developer|chain|operator|court|regulator|ministry|department|government|school|college|"
              "charity|foundation|exchange|supplier|owner|buyer|rival")
_PLACE_WORDS = ("town|cit(?:y|ie)|countr(?:y|ie)|region|us region|state|county|place|venue|island|province|village|"
                "neighbo(?:u)?rhood|district|area|continent|capital|stadium|port|airport|river|nation|hospital|prison|"
                "jail|hotel|restaurant|museum|theat(?:re|er)|arena|resort|mountain|lake|street|square")
_PERSON_WORDS = ("actor|actress|player|referee|person|singer|artist|rapper|coach|manager|driver|author|writer|"
                 "director|producer|ceo|executive|founder|boss|chief|politician|senator|minister|president|judge|"
                 "lawyer|prosecutor|striker|goalkeeper|pitcher|quarterback|boxer|fighter|jockey|designer|chef|"
                 "scientist|researcher|journalist|reporter|host|star|musician|candidate|leader|official|"
                 "spokes(?:person|man|woman)|analyst|teammate|rookie|defender|forward|midfielder|winger|chair(?:man|woman)?|"
                 "head|aide|adviser|advisor|economist|neuroscientist|professor|doctor|slugger|batter|hitter|"
                 "athlete|talent|officer|agent|lawmaker")
_AMOUNT_WORDS = ("cost|costs|pay|paid|fee|worth|price|priced|revenue|revenues|raise|raised|spend|spent|earn|"
                 "earned|earns|salary|wage|budget|fund|funding|valuation|valued|sell|sold|charge|charged|charges|"
                 "fine|fined|penalty|bid|loan|debt|profit|loss|sales|income|bonus|award|damages|deal|invest|"
                 "invested|investment|donate|donated|owe|owed|compensation|settlement|tax|tariff|subsidy|grant|value|"
                 "make|made|makes|gross|grossed|earnings|takings")
_NAME_WORDS = ("song|album|film|movie|show|book|game|product|model|name|title|word|phone|car|device|drug|vaccine|"
               "award|prize|trophy|event|competition|tournament|series|brand|subscription|term|nickname|character|"
               "feature|tool|programme|program|plan|card|version")


@dataclass(frozen=True)
class Expectation:
    """What a question asks for."""

    kind: str  # one of SPAN_KINDS, or "reason", "manner", "other"
    focus: tuple[str, ...] = ()  # the words of the thing asked about ("trips", "record label")

    @property
    def wants_span(self) -> bool:
        return self.kind in SPAN_KINDS

    @property
    def asks_reason(self) -> bool:
        """Whether the question asks why or how: answered by a story rather than a span."""
        return self.kind in ("reason", "manner")

    @property
    def max_sentences(self) -> int | None:
        """How many sentences an answer of this kind may quote: a span or a fact needs one and its support; a
        reason is a story, told in as many as the ``extractive_sentences`` setting allows."""
        return None if self.asks_reason else 2


def _kind(q: str) -> str:
    rules = [
        (r"^why\b|\bwhat (caused|led|prompted|drove|motivated)\b|\bfor what reason\b|\bhow come\b", "reason"),
        (r"\bwhat (percentage|percent|share|proportion)\b|\bby what percent|\bhow many percent|"
         r"\b(by )?how much (did|does|do|has|have|had|will|would|is|was|were|are)\b.*\b(rise|risen|rose|fall|"
         r"fallen|fell|drop|dropped|grow|grown|grew|slide|slid|climb|climbed|jump|jumped|increase|increased|decrease|decreased|"
         r"gain|gained|shrink|shrank|surge|surged|plunge|plunged|sink|sank|slump|slumped)\b|"
         r"\bhow much (more|less|faster|quicker|slower|higher|lower|bigger|smaller|cheaper|dearer)\b", "percent"),
        (rf"^what (does|did|do|will|would) .*\b(cost|charge|pay|earn|fetch|value)\b|"
         rf"\bhow much\b.*\b({_AMOUNT_WORDS})\b|"
         rf"\bhow much (money|cash)\b|\bwhat (?:\w+ )?({_AMOUNT_WORDS})\b"
         rf"(?! (?:of|for) (?:the )?(?:{_PERSON_WORDS}))|\bhow much (did|does|do|will|would|is|was)\b.*\b(cost|worth|"
         rf"pay|sell|earn|charge)|^(?:what|how much) (?:was|is|were|are|will be) (?:\S+ ){{0,3}}?(?:{_AMOUNT_WORDS})\b",
         "amount"),
        (r"\bhow long\b|\bfor how (many|long)\b.*\b(years|months|weeks|days|hours|minutes)\b", "duration"),
        (r"\bhow (big|large|tall|thin|thick|far|heavy|wide|deep|high|small|fast|long|heavy)\b", "measure"),
        (r"\bhow (many|much)\b|\bby how\b|\bwhat (number|total|figure|score|rank|position|level|rate|"
         r"ratio|multiple)\b|\bhow often\b", "number"),
        (r"^when\b|\bwhat (year|date|month|day|time)\b|\bwhich (year|month|day|date)\b|\bsince when\b|"
         r"\bby when\b|\buntil when\b|\bhow old\b", "date"),
        (rf"^(who|whom|whose)\b|\b(which|what) (?:[\w'-]+ ){{0,2}}({_PERSON_WORDS})s?\b|\bwho\b", "person"),
        (rf"^where\b|\b(in|from|to|at|under) (which|what) (?:\w+ ){{0,2}}({_PLACE_WORDS})s?\b|\b(which|what) "
         rf"(?:\w+ ){{0,2}}({_PLACE_WORDS})s?\b", "place"),
        (rf"\b(which|what) (?:\w+ ){{0,2}}({ORG_WORDS})s?\b", "organisation"),
        (rf"\b(which|what)\s+([\w'-]+\s+){{0,2}}({_NAME_WORDS})\b|"
         r"\bwhat is (it|he|she|the \w+) (called|named)\b|\bwhat (was|is) the name\b", "name"),
        (r"^how\b", "manner"),
    ]
    for pattern, kind in rules:
        if re.search(pattern, q):
            return kind
    return "other"


_AUX = "did|does|do|is|was|are|were|has|have|had|will|would|can|could|should"
_FOCUS = [
    re.compile(rf"\bhow (?:many|much)\s+((?:[a-z]+\s+){{0,1}}[a-z]+?)\s+(?:{_AUX})\b"),
    re.compile(rf"\bhow (?:many|much)\s+(?!(?:{_AUX})\b)([a-z]+)"),
    re.compile(rf"\b(?:what|which)\s+((?:[a-z]+\s+){{0,2}}?[a-z]+)\s+(?:{_AUX})\b"),
]
# The kind of thing asked about, when no auxiliary ends the phrase: "which bank managed ...", "who is the
# chairman of ...", "how much does Rugby Australia pay ...".
_TYPE_FOCUS = [
    re.compile(rf"\b(?:what|which)\s+(?:[\w'-]+\s+){{0,2}}?({ORG_WORDS}|{_PLACE_WORDS}|{_PERSON_WORDS}|"
               rf"{_NAME_WORDS})s?\b"),
    re.compile(rf"\bwho (?:is|was|are|were|will be) (?:the|its|their|his|her) (?:[a-z]+ )?({_PERSON_WORDS})\b"),
    re.compile(rf"\b(?:what|how much)\b.*?\b({_AMOUNT_WORDS})\b"),
]
_FOCUS_STOP = frozenset(f"the a an of to in on at for and or it its his her their this that {_AUX.replace('|', ' ')}"
                        .split())


def _focus(q: str) -> tuple[str, ...]:
    for rx in (*_FOCUS, *_TYPE_FOCUS):
        m = rx.search(q)
        if m:
            words = tuple(w for w in m.group(1).split() if w not in _FOCUS_STOP)
            if words:
                return words
    return ()


def not_english(question: str) -> bool:
    """Whether ``question`` is plainly in another language: mostly in another script, or holding more of
    another language's function words (bm25s' lists) than of English ones. A question of names alone, or a
    tie, counts as English: the benefit of the doubt goes to answering."""
    from ..store.lexical import stopword_lists
    from ..text import STOPWORDS

    letters = [ch for ch in question if ch.isalpha()]
    if sum(not unicodedata.name(ch, "").startswith("LATIN") for ch in letters) > len(letters) / 2:
        return True
    words = re.findall(r"\w+", question.lower())
    lists = stopword_lists()
    english = sum(w in STOPWORDS or w in lists["EN"] for w in words)
    other = max((sum(w in stop for w in words) for name, stop in lists.items() if name != "EN"), default=0)
    return other >= 2 and other > english


_ASKING = re.compile(r"\b(how (?:many|much)|who(?:m|se)?|which|what|when|where|why|how)\b", re.I)
#: The question words whose answer is a span (a name, a date, a figure): where a bold short answer belongs.
SPAN_QUESTION_WORDS = ("who", "which", "what", "when", "where", "how many", "how much")


def question_word(question: str) -> str:
    """The question word a question asks with ("who", "how many", "why", ...; "other" for none): "Roughly what
    fee did Chelsea pay?" asks "what"."""
    m = _ASKING.search(question)
    if not m:
        return "other"
    word = " ".join(m.group(1).lower().split())
    return "who" if word.startswith("who") else word


@lru_cache(maxsize=4096)
def expectation(question: str) -> Expectation:
    """What ``question`` asks for (cached: the answerer asks once per candidate sentence)."""
    q = " ".join(question.lower().replace("’", "'").split())
    kind = _kind(q)
    return Expectation(kind, _focus(q) if kind not in ("reason", "manner") else ())


def _trim(kind: str, sentence: str, a: int, b: int) -> tuple[int, int]:
    """A span without what is not the answer itself: "in 2020" is 2020, "Mills Lane’s" is Mills Lane."""
    text = sentence[a:b]
    lead = re.match(r"(?:in|since|by|on|from)\s+", text, re.I) if kind == "date" else None
    if lead:
        a += lead.end()
    if kind == "person":
        title = _TITLES.match(sentence[a:b])
        if title and title.end() < b - a:
            a += title.end()
    tail = re.search(r"[’']s$", sentence[a:b])
    if tail:
        b = a + tail.start()
    return a, b


def spans(kind: str, sentence: str) -> list[tuple[int, int]]:
    """Character spans of ``sentence`` that could answer a question of ``kind``."""
    if kind in NAME_KINDS:
        found = [(m.start(1), m.end(1)) for m in SPAN_RES["quote"].finditer(sentence)
                 if len(m.group(1).split()) <= 6]
        names = [(m.start(), m.end()) for m in _NAME.finditer(sentence)]
        if kind == "name":  # a work's title is most often quoted: quotes first
            found += names
        else:
            found = names + found
    else:
        rx = SPAN_RES.get(kind)
        found = [(m.start(), m.end()) for m in rx.finditer(sentence)] if rx else []
        if kind in ("amount", "percent", "duration", "measure") and not found:
            found = [(m.start(), m.end()) for m in SPAN_RES["number"].finditer(sentence)]
        if kind in ("number", "amount"):  # a year is a date, not a count or a sum
            found = [(x, y) for x, y in found if not re.fullmatch(r"(?:1[89]|20)\d\d", sentence[x:y].strip())]
    return [_trim(kind, sentence, a, b) for a, b in found if sentence[a:b].strip()]


#: Words that open sentences with a capital without being names ("However", "The"), so that "Spain won …" still
#: offers Spain.
OPENERS = frozenset("""
a an the this that these those it its he she they we i you his her their our my there here however but and or so
yet after before when while if as at in on for from with by of to meanwhile still also then now today yesterday
last next some many most all both each one two according despite although though because since what who which
where why how not no more such other another once even only just instead earlier later currently finally first
second new under over during until unlike like among amid without within between
""".split())
_CALENDAR = re.compile(rf"(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\.?", re.I)


def word_prefixes(text: str) -> set[str]:
    return {w[:6] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


#: Capitalised compounds that describe rather than name: "a Leeds-based engineer" names a place, not a firm.
def new_spans(kind: str, sentence: str, question: str) -> list[tuple[int, int]]:
    """The spans of ``kind`` that say something the question does not (a name it already names answers nothing)."""
    asked = word_prefixes(question)
    out = []
    for a, b in spans(kind, sentence):
        text = sentence[a:b]
        said = word_prefixes(text)
        if kind in NAME_KINDS and a == 0 and len(text.split()) == 1 and text.lower() in OPENERS:
            continue  # a capital that only opens the sentence
        if kind == "person" and re.search(r"\d", text):
            continue
        if kind in NAME_KINDS and _CALENDAR.fullmatch(text.strip()):
            continue  # "August", "Monday": capitalised, but dates
        if (said and not said <= asked) or (not said and kind not in NAME_KINDS):  # "6%" has no word of 3 letters
            out.append((a, b))
    return out


def holds(kind: str, sentence: str, question: str) -> bool:
    """Whether ``sentence`` states something of the kind asked for that the question does not name."""
    return bool(new_spans(kind, sentence, question))
