"""Compound names: the words left in a compound slot once the query's grammar is removed.

After identifiers, structures, properties, groups and quantities are masked, the rest of
the query is cut at punctuation, at masked spans and at grammar words (question words,
verbs, "compounds", "and", comparatives, ...). Each run of remaining words is one name, so
multi-word names survive ("acetylsalicylic acid", "valproic acid"). Names are not checked
against the library here: the ``resolve`` step does that and offers "did you mean".
"""

from __future__ import annotations

import re

from chemagent.query.entities import MASK, Extraction
from chemagent.query.model import Entity, EntityKind

_GRAMMAR = """
a an the this that these those it its it's them they their theirs both each either all any
some every one ones same other another such i me my we us our you your please thanks thank
hi hello hey ok okay
what what's whats which who whom whose where when why how is are was were be been being am
do does did done have has had having can could would should will shall may might must let
tell show give find get fetch take resolve draw depict render identify work works
matching match working list display describe explain look up lookup search query
calculate compute computing calculating predict determine print return see check want need
know like info information details detail about regarding on of for to from in into at by
with without within and or nor but vs versus v than then also next after before as plus
while among between per via over under above below
compound compounds drug drugs molecule molecules structure structures chemical chemicals
substance substances agent agents medicine medicines medication medications entry entries
record records hit hits result results match matches analog analogs analogue analogues
neighbour neighbours neighbor neighbors candidate candidates library database chembl
approved id ids smiles inchikey smarts name names
property properties descriptor descriptors panel profile value values data stats statistics
physicochemical physchem full complete whole basic key summary overview
compare comparison compared comparing rank ranked ranking sort sorted sorting order ordered
keep filter filtered only just retain select restrict remove exclude drop limit limited
similar similarity similarly resembling resemble resembles close closest nearest
tanimoto fingerprint fingerprints morgan ecfp ecfp4 threshold cutoff cut-off score
contain contains containing contained substructure substructures group groups moiety
moieties motif motifs fragment fragments pattern patterns bearing include includes
including featuring feature
target targets targeted targeting bind binds binding bound mechanism mechanisms action
actions moa act acts acting inhibit inhibits inhibitor protein proteins receptor receptors
activity activities interact interacts bioactivity bioactivities data
compliant compliance pass passes passing obey obeys violate violates violation violations
rule rules satisfy satisfies meet meets follow follows
higher highest lower lowest more most less least fewer fewest greater greatest larger
largest smaller smallest bigger biggest better best worse worst max maximum min minimum
ascending descending increasing decreasing top first last
many much number count amount level exactly approximately about around roughly
there here now please also too very really quite if whether yes no not
"""
STOPWORDS = frozenset(_GRAMMAR.split())
"""Grammar words that never belong to a compound name."""

_TOKEN_RE = re.compile(r"[^\s\x00,;:?!()\"“”]+")
_VOWELS = frozenset("aeiouy")
_CONSONANT_RUN_RE = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")
_REPEAT_RE = re.compile(r"(.)\1\1")


def is_gibberish(word: str) -> bool:
    """A word no compound name looks like: no vowel, 5 consonants in a row, or "zzz".

    Args:
        word: one token.

    Returns:
        True for keyboard mashes such as "asdkjh" or "qwrtp".
    """
    w = word.lower()
    letters = [c for c in w if c.isalpha()]
    if len(letters) < 3:
        return False
    return (
        not _VOWELS.intersection(letters)
        or bool(_CONSONANT_RUN_RE.search(w))
        or bool(_REPEAT_RE.search(w))
    )


def _clean(token: str) -> str:
    token = token.rstrip(".").strip("'’`")
    for suffix in ("'s", "’s"):
        if token.lower().endswith(suffix):
            token = token[: -len(suffix)]
    return token


def extract_names(ex: Extraction) -> list[str]:
    """Fill ``ex.names`` with the runs of non-grammar words; consume them.

    Args:
        ex: an extraction with everything but names already consumed.

    Returns:
        The gibberish words seen (they are never names).
    """
    gibberish: list[str] = []
    run: list[tuple[int, int]] = []
    masked = ex.masked

    def close() -> None:
        if run:
            start, end = run[0][0], run[-1][1]
            text = ex.text[start:end]
            value = " ".join(_clean(t) for t in text.split())
            if len(run) > 1 and len({t.lower() for t in value.split()}) == 1:
                gibberish.append(value)  # "blah blah blah": a repeated word names nothing
            else:
                ex.names.append(Entity(EntityKind.NAME, text, value, start, end))
            run.clear()

    previous_end = 0
    for m in _TOKEN_RE.finditer(masked):
        word = _clean(m.group(0))
        gap = masked[previous_end : m.start()]
        if run and (MASK in gap or not gap.isspace()):
            close()
        previous_end = m.end()
        lower = word.lower()
        if not word or lower in STOPWORDS or not any(c.isalpha() for c in word):
            close()
            continue
        if is_gibberish(word):
            gibberish.append(word)
            close()
            continue
        end = m.start() + len(m.group(0).rstrip(".").removesuffix("'s").removesuffix("’s"))
        run.append((m.start(), end))
    close()
    for name in ex.names:
        ex.consume(name.start, name.end)
    return gibberish
