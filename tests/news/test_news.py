"""What only a news tool does: a story's timeline, what each outlet said, and how fresh an answer is."""

import json

import pytest

import briefqa
from briefqa.errors import FilterError
from conftest import markdown_corpus, one_clear_error, run

STORY = [
    ("Storm cracks Cape Verran lighthouse", "Harbour Times", "2024-01-10",
     "A winter storm damaged the old lighthouse at Cape Verran on Monday night, cracking the glass of its lantern "
     "room and flooding the keeper's cottage. The coast guard closed the headland path to walkers."),
    ("Lighthouse repairs priced", "Coast Gazette", "2024-01-12",
     "Engineers inspecting the Cape Verran lighthouse said the repairs would cost 2 million euros, most of it for "
     "new lantern glass and a steel frame. The regional council will pay for the work from its heritage fund."),
    ("Council weighs lighthouse bill", "Island Post", "2024-01-13",
     "The repairs to the Cape Verran lighthouse will cost 3 million euros, according to the council's own "
     "estimate, which includes rebuilding the keeper's cottage. Councillors will vote on the budget next week."),
    ("Cape Verran light shines again", "Harbour Times", "2024-01-20",
     "The Cape Verran lighthouse reopened on Saturday after engineers replaced the lantern glass, ten days after "
     "the storm. Walkers returned to the headland path as the beam swept the bay again."),
    ("Orchestra opens its season", "Orchestra Monthly", "2024-01-11",
     "The city orchestra opened its winter season with Sibelius and a premiere by a young composer from the "
     "conservatory, which drew a standing ovation from a full house."),
]
UNDATED = ("---\ntitle: A short history of Cape Verran lighthouse\nsource: Heritage Notes\n---\n"
           "The Cape Verran lighthouse was built in 1871 by the harbour board, and its lantern was first lit in the "
           "spring of 1872. Keepers lived in the cottage beside it until the light was automated in 1986.\n")


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    root = markdown_corpus(tmp_path_factory.mktemp("story"), STORY)
    (root / "undated.md").write_text(UNDATED, encoding="utf-8")
    index = tmp_path_factory.mktemp("story-index") / "ix"
    briefqa.ingest([root], index=index, progress=False)
    return briefqa.BriefQA.open(index)


# -- timeline ---------------------------------------------------------------------------------------------------
def test_a_timeline_lists_the_storys_articles_oldest_first_and_the_undated_last(qa):
    t = qa.timeline("Cape Verran lighthouse storm and repairs")
    days = [(e.published_at or "undated")[:10] for e in t.entries]
    assert days == ["2024-01-10", "2024-01-12", "2024-01-13", "2024-01-20", "undated"]
    assert "Orchestra Monthly" not in {e.source for e in t.entries}
    first = t.entries[0]
    assert first.source == "Harbour Times" and first.sentence in first.passage.text
    assert t.entries[-1].to_dict()["undated"] is True


def test_each_entry_says_something_no_earlier_entry_said(qa):
    t = qa.timeline("Cape Verran lighthouse")
    sentences = [e.sentence for e in t.entries]
    assert len(set(sentences)) == len(sentences)
    assert "reopened" in next(e.sentence for e in t.entries if (e.published_at or "").startswith("2024-01-20"))


def test_timeline_filters_and_json(qa):
    out = run("timeline", "Cape Verran lighthouse", "--index", qa.store.location, "--from", "2024-01-11",
              "--to", "2024-01-15", "--json")
    assert out.returncode == 0, out.stderr
    entries = json.loads(out.stdout)["entries"]
    assert [e["source"] for e in entries] == ["Coast Gazette", "Island Post"]
    assert set(entries[0]) >= {"published_at", "source", "title", "sentence", "also_published_by"}


def test_a_timeline_that_matches_nothing_says_so(qa):
    t = qa.timeline("zebra quantum violin")
    assert t.entries == [] and "No article" in t.notes[0]
    out = run("timeline", "zebra quantum violin", "--index", qa.store.location)
    assert out.returncode == 0 and "No article in this index is about" in out.stdout


# -- by source --------------------------------------------------------------------------------------------------
def test_by_source_gives_each_outlet_its_line_newest_first_and_shows_differing_figures_side_by_side(qa):
    # The figures are the reader's spans, shown when the short-answer model is sure enough: here, always.
    a = qa.ask("How much will the repairs to the Cape Verran lighthouse cost?", by_source=True,
               short_answer_threshold=0.01)
    lines = [line for line in a.by_source if line.covered]
    assert [line.source for line in lines][:2] == ["Island Post", "Coast Gazette"]
    assert [line.published_at[:10] for line in lines] == sorted((line.published_at[:10] for line in lines),
                                                                reverse=True)
    assert a.text.startswith("The reports differ: 3 million euros (Island Post [1]) · 2 million euros "
                             "(Coast Gazette [2])")
    assert a.short_answer is None  # no verdict between them
    assert all(c.sentence in c.passage.text for c in a.citations)
    unsure = qa.ask("How much will the repairs to the Cape Verran lighthouse cost?", by_source=True,
                    short_answer_threshold=1.0)
    assert unsure.text.startswith("Island Post, ") and "differ" not in unsure.text  # no spans, no juxtaposition


def test_an_outlets_line_holds_every_sentence_the_plain_answer_quotes_from_it(qa):
    question = "What happened to the Cape Verran lighthouse in the storm?"
    plain, by = qa.ask(question), qa.ask(question, by_source=True)
    lines = {line.source: line for line in by.by_source if line.covered}
    for c in plain.citations:
        line = lines[c.passage.metadata["source"]]
        assert c.sentence in [line.sentence, *(q.sentence for q in line.more)]
    harbour = lines["Harbour Times"]  # its two articles: the storm, then the reopening
    assert len(harbour.more) == 1 and harbour.more[0].marker != harbour.marker
    assert f"{harbour.sentence[:-1]} [{harbour.marker}]. {harbour.more[0].sentence[:-1]} [{harbour.more[0].marker}]" \
        in by.text
    assert len(by.citations) == 2 and all(c.sentence in c.passage.text for c in by.citations)


def test_a_named_outlet_without_coverage_is_said_so(qa):
    a = qa.ask("What did the Harbour Times and Orchestra Monthly say about the Cape Verran lighthouse storm?",
               by_source=True)
    by = {line.source: line for line in a.by_source}
    assert by["Harbour Times"].covered and "lighthouse" in by["Harbour Times"].sentence
    assert not by["Orchestra Monthly"].covered
    assert "no coverage found in Orchestra Monthly" in a.text


def test_by_source_in_the_cli_json(qa):
    out = run("ask", "How much will the Cape Verran lighthouse repairs cost?", "--index", qa.store.location,
              "--by-source", "--json")
    assert out.returncode == 0, out.stderr
    lines = json.loads(out.stdout)["by_source"]
    assert {"source", "published_at", "sentence", "marker"} <= set(lines[0])
    assert {line["source"] for line in lines} >= {"Island Post", "Coast Gazette"}


def test_an_outlet_that_does_not_exist_is_one_clear_error(qa):
    with pytest.raises(FilterError, match="No article in this index is from 'Harbor Times'; did you mean "
                                          "'Harbour Times'"):
        qa.ask("What happened to the lighthouse?", sources=["Harbor Times"])
    one_clear_error(run("ask", "What happened?", "--index", qa.store.location, "--source", "Daily Planet"),
                    "Daily Planet")


# -- freshness --------------------------------------------------------------------------------------------------
def test_every_answer_states_the_date_of_the_newest_article_it_cites(qa):
    a = qa.ask("How much will the repairs to the Cape Verran lighthouse cost?")
    assert a.as_of == max(c.passage.metadata["published_at"][:10] for c in a.citations)
    assert a.to_dict()["as_of"] == a.as_of


def test_questions_about_the_latest_prefer_newer_reports(qa):
    plain = qa.retrieve("What is the state of the Cape Verran lighthouse?", k=1)[0]
    assert not (plain.metadata["published_at"] or "").startswith("2024-01-20")  # without a preference
    latest = qa.explain("What is the latest on the Cape Verran lighthouse?", k=1)
    assert latest.passages[0].metadata["published_at"].startswith("2024-01-20")
    assert any("newer reports preferred" in n for n in latest.analysis.notes)
    decayed = qa.retrieve("What is the state of the Cape Verran lighthouse?", k=1, time_decay_days=1)[0]
    assert decayed.metadata["published_at"].startswith("2024-01-20")
