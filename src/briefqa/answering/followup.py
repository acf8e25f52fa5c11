"""Follow-up questions: rewrite "and how did Tehran react?" into a question that stands on its own.

Retrieval sees one question at a time, so a follow-up that leans on the conversation ("and Tehran?", "why did
they do it?") would retrieve passages about nothing in particular. A follow-up is recognised by its opening
("and", "what about"), by words that point back ("they", "it", "this"), or by being too short to stand alone,
and is completed with the content words of the previous standalone question that it does not repeat. The
rewrite is deterministic and shown to the user, so a wrong guess is visible and can be corrected by asking
in full.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..text import content_words

_OPENERS = re.compile(r"^\s*(and|but|so|also|then|what about|how about|and what about|and how about)\b[\s,]*",
                      re.I)
_POINTERS = re.compile(r"\b(it|its|they|them|their|theirs|he|him|his|she|her|hers|this|that|these|those|"
                       r"there|the same|such)\b", re.I)
#: A question with fewer content words than this leans on the conversation.
MIN_STANDALONE_WORDS = 3


@dataclass(frozen=True)
class Rewrite:
    """The question retrieval will use, and whether it differs from what the user typed."""

    question: str
    original: str
    rewritten: bool


def is_follow_up(question: str) -> bool:
    return bool(_OPENERS.match(question) or _POINTERS.search(question)
                or len(content_words(question)) < MIN_STANDALONE_WORDS)


def standalone_question(question: str, previous: Sequence[str]) -> Rewrite:
    """``question`` made to stand alone, given the earlier standalone questions of the conversation."""
    question = question.strip()
    if not previous or not is_follow_up(question):
        return Rewrite(question, question, False)
    last = previous[-1]
    have = {w.lower() for w in content_words(question)}
    # Keep the earlier question's words as written (names keep their capitals), in order, without repeats.
    words = set(content_words(last))
    carried = list(dict.fromkeys(w for w in re.findall(r"[A-Za-z0-9]+", last)
                                 if w.lower() in words and w.lower() not in have))
    core = _OPENERS.sub("", question).strip()
    core = core[:1].upper() + core[1:]
    if not carried:
        return Rewrite(question, question, False)
    stem = core.rstrip(" ?")
    return Rewrite(f"{stem} ({' '.join(carried)})?", question, True)
