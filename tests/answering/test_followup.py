"""Follow-up questions become standalone questions, visibly and predictably."""

import briefqa
from briefqa.answering.followup import is_follow_up, standalone_question

FIRST = "Why did Baku open an embassy in Tel Aviv now?"


def test_a_standalone_question_is_left_alone():
    r = standalone_question("Who won the women's World Cup in 2023?", [FIRST])
    assert not r.rewritten and r.question == "Who won the women's World Cup in 2023?"


def test_the_first_question_is_never_rewritten():
    assert not standalone_question("and why?", []).rewritten


def test_a_follow_up_carries_the_previous_subject():
    r = standalone_question("and how did Tehran react?", [FIRST])
    assert r.rewritten and r.original == "and how did Tehran react?"
    assert r.question == "How did Tehran react (Baku open embassy Tel Aviv)?"


def test_pointing_words_and_short_questions_are_follow_ups():
    assert is_follow_up("Why did they do it?")
    assert is_follow_up("What about Turkey?")
    assert is_follow_up("Tehran?")
    assert not is_follow_up("How did Iran react to Azerbaijan's embassy in Israel?")


def test_only_the_latest_question_is_carried():
    r = standalone_question("and when?", ["Who won the 2023 women's World Cup final?", FIRST])
    assert "Baku" in r.question and "World" not in r.question


def test_the_demo_follow_up_opens_with_the_tehran_article_and_its_reaction_before_the_earlier_answer(demo_index):
    # The earlier question's words help retrieval find the story; the answer opens with the article on Tehran's
    # view and says how Tehran reacted before it says why Baku opened the embassy (the earlier question's answer).
    # Which of that article's two sentences comes first is a close call that hosts decide differently: the int8
    # reader quantises activations with one scale per batch of sentences, so a sentence's logit moves with the
    # sentences the embeddings put beside it ("Tehran reacted…" reads 1.4 on an onnx-int8 index and 2.5 on a
    # torch one, the same reader), and the analysts' sentence of the same article comes first on some hosts.
    # The test holds the article and the order of the two answers.
    r = standalone_question("And how did Tehran react?", [FIRST])
    ans = briefqa.BriefQA.open(demo_index).ask(r.question)
    cited = {c.marker: c.passage for c in ans.citations}
    assert cited[ans.sentences[0].markers[0]].metadata["title"] == "How Tehran reads the Baku–Tel Aviv partnership"
    reacted = ans.text.index("Tehran reacted to the new embassy mostly with words [")
    assert "Baku opened the embassy now" not in ans.text[:reacted]
