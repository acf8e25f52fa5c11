"""Question analysis: publications, dates, ranges and titles named in a news question."""

from datetime import date

from briefqa.retrieval.query import analyze
from briefqa.store.base import DocEntry

DOCS = {
    "a": DocEntry(title="Sam Altman backs a teen startup", source="TechCrunch",
                  published_at="2023-10-07T10:00:00+00:00", chunk_ids=[0, 1]),
    "b": DocEntry(title="A timeline of the OpenAI board fight", source="TechCrunch", published_at="2023-11-18",
                  chunk_ids=[2]),
    "c": DocEntry(title="The jury hears from the founder", source="The Verge", published_at="2023-10-28",
                  chunk_ids=[3, 4]),
    "d": DocEntry(title="Healy denies Aussie slump", source="The Roar | Sports Writers Blog",
                  published_at="2023-12-24", chunk_ids=[5]),
    "e": DocEntry(title="Markets wobble", source="Fortune", published_at="2023-09-30", chunk_ids=[6]),
}


def parts(q):
    """Each part's label and the chunks of its documents."""
    return {p.label: sorted(c for d in p.doc_ids for c in DOCS[d].chunk_ids) for p in analyze(q, DOCS).parts}


def test_publications_in_the_index_are_recognised_and_others_ignored():
    a = analyze("Did The Verge and Bloomberg both report on the trial?", DOCS)
    assert a.sources == ["The Verge"]  # Bloomberg is not in the index: not a filter
    assert parts("as reported by 'The Roar' and TechCrunch") == {"The Roar | Sports Writers Blog": [5],
                                                               "TechCrunch": [0, 1, 2]}


def test_short_names_that_are_also_words_need_their_capital():
    assert analyze("Will his fortune change?", DOCS).sources == []
    assert analyze("What did Fortune say?", DOCS).sources == ["Fortune"]


def test_each_date_pairs_with_the_publication_named_before_it():
    q = ("Between the TechCrunch report published on October 7, 2023, and the TechCrunch report "
         "published on 2023-11-18, did the portrayal change?")
    assert parts(q) == {"TechCrunch 2023-10-07": [0, 1], "TechCrunch 2023-11-18": [2]}


def test_day_formats_and_a_one_day_tolerance():
    assert parts("the TechCrunch piece of 8 October 2023") == {"TechCrunch 2023-10-08": [0, 1]}
    assert parts("what The Verge wrote in October 2023") == {"The Verge 2023-10": [3, 4]}


def test_a_date_with_no_article_falls_back_to_the_publication_and_says_so():
    a = analyze("What did The Verge publish on March 3, 2023?", DOCS)
    assert [p.label for p in a.parts] == ["The Verge"]
    assert any("nothing from The Verge on 2023-03-03" in n for n in a.notes)


def test_ranges_before_after_between():
    a = analyze("What was reported after October 1, 2023?", DOCS)
    assert (a.date_from, a.date_to) == (date(2023, 10, 2), None)
    a = analyze("What was published before November 2023?", DOCS)
    assert (a.date_from, a.date_to) == (None, date(2023, 10, 31))
    a = analyze("What happened between October 1, 2023 and October 31, 2023?", DOCS)
    assert (a.date_from, a.date_to) == (date(2023, 10, 1), date(2023, 10, 31))


def test_an_impossible_range_is_reported_not_applied():
    a = analyze("What happened between December 1, 2023 and November 1, 2023?", DOCS)
    assert a.date_from is None and a.date_to is None
    assert any("ends before it starts" in n for n in a.notes)


def test_a_title_in_the_question_is_a_part():
    assert parts("Summarise 'A timeline of the OpenAI board fight', please") == {
        "title: A timeline of the OpenAI board fight": [2]}


def test_explicit_filters_bound_every_part():
    a = analyze("What did TechCrunch and The Verge say?", DOCS, admitted={"b", "c", "e"})
    assert {p.label: p.doc_ids for p in a.parts} == {"TechCrunch": ["b"], "The Verge": ["c"]}


def test_latest_is_noticed():
    assert analyze("What is the latest on the trial?", DOCS).latest


def test_one_catalog_serves_every_question_and_finds_quoted_titles_and_days():
    from briefqa.retrieval.query import Catalog

    catalog = Catalog(DOCS)
    a = analyze("What did “A timeline of the OpenAI board fight” say, and TechCrunch on 19 November 2023?", DOCS,
                catalog=catalog)
    assert {p.label: p.doc_ids for p in a.parts} == {"TechCrunch 2023-11-19": ["b"],
                                                     "title: A timeline of the OpenAI board fight": ["b"]}
    b = analyze("Did The Verge report in October 2023 that the jury heard from him?", DOCS, catalog=catalog)
    assert {p.label: p.doc_ids for p in b.parts} == {"The Verge 2023-10": ["c"]}
    assert catalog.near_day(date(2023, 11, 19)) == ["b"]  # a day's tolerance: published on the 18th
