"""User text in plotly figures: tags escaped (plotly reads a subset of HTML), quotes shown as typed (plotly
shows entities such as &quot; literally)."""

from __future__ import annotations

import html
import re

import numpy as np

from explainer.capture.tracing import trace
from explainer.views import attention as attention_figures
from explainer.views import evaluation as evaluation_figures
from explainer.views.text import plot_text, token_labels

TEXT = 'Loved it "truly" & <b>bold</b>'


def _labels_are_safe_and_literal(labels) -> None:
    joined = " ".join(labels)
    assert '"' in joined and "&quot;" not in joined  # the quote as typed
    assert "<b>" not in joined and "&lt;" in joined  # the tag as text


def test_plot_text_escapes_tags_and_ampersands_but_not_quotes():
    assert plot_text('<b>"a" & \'b\'</b>') == "&lt;b&gt;\"a\" &amp; 'b'&lt;/b&gt;"
    assert plot_text(3) == "3"


def test_attention_figures_show_quotes_as_typed_and_tags_as_text(bundle):
    captured = trace(bundle("bert"), TEXT)
    _labels_are_safe_and_literal(token_labels(captured.tokens))
    widget_labels = token_labels(captured.tokens, plotly=False)  # Streamlit widgets show text literally
    assert any("<" in label for label in widget_labels) and not any("&lt;" in label for label in widget_labels)
    heatmap = attention_figures.attention_heatmap(captured, 0, 0).data[0]
    _labels_are_safe_and_literal(heatmap.x)


def test_compare_figures_show_quotes_as_typed_and_tags_as_text():
    units = ['"truly"', "<b>", "&"]
    heatmaps = evaluation_figures.paired_heatmaps(np.eye(3), np.eye(3), units, 'A "x"', "B <i>")
    _labels_are_safe_and_literal(heatmaps.data[0].x)
    assert [a.text for a in heatmaps.layout.annotations] == ['A "x"', "B &lt;i&gt;"]
    bars = evaluation_figures.paired_attributions(np.ones(3), -np.ones(3), units, '"a"', "<b>")
    _labels_are_safe_and_literal(bars.data[0].y)
    assert [trace_.name for trace_ in bars.data] == ['"a"', "&lt;b&gt;"]


def test_compared_words_keep_letters_that_are_also_tokenizer_marks():
    """Maltese Ġ/Ċ and Esperanto ĉ are letters: the word-level bars dropped them ("ood", "⇥ool") while the heatmaps
    beside them showed the words as typed; at token level both drop the marks."""
    words = ["Ġood", "unbelievably", "ĉool"]
    bars = evaluation_figures.paired_attributions(np.ones(3), -np.ones(3), words, "A", "B", "word")
    heatmaps = evaluation_figures.paired_heatmaps(np.eye(3), np.eye(3), words, "A", "B", "word")
    assert list(bars.data[0].y) == list(heatmaps.data[0].x) == ["0 Ġood", "1 unbelievably", "2 ĉool"]
    tokens = evaluation_figures.paired_heatmaps(np.eye(2), np.eye(2), ["Ġgood", "Ġfilm"], "A", "B", "token")
    assert list(tokens.data[0].x) == ["0 good", "1 film"]


def test_byte_level_and_sentencepiece_marks_read_as_words_on_axes():
    tokens = ["<s>", "ĠHello", "Ġ", "Ċ", "▁film", "ĠÅ", "ing"]
    assert token_labels(tokens) == ["0 &lt;s&gt;", "1 Hello", "2 ␣", "3 ↵", "4 film", "5 Å", "6 ing"]
    assert token_labels(["Ġa<b>"], plotly=False) == ["0 a<b>"]


def test_markdown_literal_escapes_what_would_draw_a_link_or_styled_text_and_keeps_the_rest():
    from explainer.views.text import markdown_literal

    crafted = "**bold** [click](x) `code` <b>x</b> $x$ ~~s~~ a|b \\"
    assert markdown_literal(crafted) == (
        "\\*\\*bold\\*\\* \\[click\\](x) \\`code\\` \\<b\\>x\\</b\\> \\$x\\$ \\~\\~s\\~\\~ a\\|b \\\\"
    )
    assert markdown_literal("Model folder not found: /tmp/a-b.c") == "Model folder not found: /tmp/a-b.c"
    # a character reference would be read as the character it names: "r&lt;1.csv" must not show as "r<1.csv"
    assert markdown_literal("r&amp;d&lt;1&gt;.csv") == "r\\&amp;d\\&lt;1\\&gt;.csv"
    # bare addresses become links without any markup (GFM autolinks, which escapes do not stop): set as code
    assert markdown_literal("see http://x.org/a`b or www.y.org or me@z.org") == (
        "see ``http://x.org/a`b`` or `www.y.org` or `me@z.org`"
    )
    # trailing punctuation stays text (GFM leaves it out of the link): a label "[x](http://e.x)" read "[x](" and
    # the code span "http://e.x)", and an error's "'];" after an address ran into the code too
    assert markdown_literal("[x](http://e.x) and (www.y.org).") == "\\[x\\](`http://e.x`) and (`www.y.org`)."
    assert markdown_literal("labels ['http://e.x'];") == "labels \\['`http://e.x`'\\];"
    # a ")" that closes a "(" of the address is its own (GFM): the code span ended at "(language"
    assert markdown_literal("see https://w.org/Python_(language).") == "see `https://w.org/Python_(language)`."
    assert markdown_literal("(https://w.org/P_(l))") == "(`https://w.org/P_(l)`)"


def test_a_line_break_in_a_name_starts_no_heading_list_or_code_block():
    """A label "neg\\n# Model recalled" drew a heading inside the Attention page's caption: escapes reach no line
    start, so each line's block mark is escaped and the indentation after a break dropped."""
    from markdown_it import MarkdownIt

    from explainer.views.text import markdown_literal, markdown_strong

    assert markdown_literal("neg\n# Sign in\r\n===\r- a\n+ b\n  1. c\n\t2) d\n    e") == (
        "neg\n\\# Sign in\n\\===\n\\- a\n\\+ b\n1\\. c\n2\\) d\ne")
    assert markdown_literal(" -x 1.5 a-b") == " \\-x 1.5 a-b"  # the text's own first line may follow a word: kept
    render = MarkdownIt("commonmark").render
    for name in ("neg\n# X", "x\n===", "n\n- item", "1. one\n2) two", "a\n\n    code", "ok\n---"):
        html = render(f"The model predicts {markdown_strong(name)} here.")
        assert not any(tag in html for tag in ("<h1", "<h2", "<ul", "<ol", "<pre", "<hr")), (name, html)


def test_streamlit_directives_in_user_text_stay_text():
    """Streamlit draws ":material/thumb_up:" as an icon (inside HTML too, where it read ":material_thumb_up:"),
    ":smile:" as an emoji and ":red[x]" in red, escaped brackets or not, and a bare ":red" or ":name{...}" eats
    the word: the colon that can open one is a reference; in HTML every colon is."""
    from explainer.views.text import html_piece, html_text, markdown_literal

    typed = "A :material/thumb_up: B :smile: C :red[x] D :red E size:small :b{c} 12:30 ok: a : b"
    assert markdown_literal(typed) == (
        "A &#58;material/thumb\\_up: B &#58;smile: C &#58;red\\[x\\] D &#58;red E size&#58;small &#58;b{c} "
        "12&#58;30 ok: a : b"
    )
    assert ":" not in html_text(typed) and html.unescape(html_text(typed)) == typed
    pieces = ["A ", ":", "material", "/", "thumb_up", ":"]  # a text shown token by token
    assert ":" not in "".join(map(html_piece, pieces))
    assert markdown_literal("see http://x.org:8501/a") == "see `http://x.org:8501/a`"  # an address stays code


def test_a_whatif_diff_shows_directives_as_typed():
    from explainer.views.whatif import diff_html

    shown = diff_html("a fine film :material/thumb_up: end", "a dull film :material/thumb_up: end :red[x]")
    text = re.sub(r"<[^>]*>", "", shown)  # the words and gaps, without the marks' own styles
    assert ":" not in text and "&#58;material/thumb_up&#58;" in text and "&#58;red[x]" in text


def test_right_to_left_tokens_are_isolated_so_the_index_stays_first():
    from explainer.views.text import token_labels

    labels = token_labels(["[CLS]", "مرحبا", "##ي", "movie"])
    assert labels[0] == "0 [CLS]" and labels[3] == "3 movie"  # left-to-right labels as they were
    assert labels[1] == "1 \u2068مرحبا\u2069" and labels[2] == "2 \u2068##ي\u2069"
    assert token_labels(["##ي"], plotly=False) == ["0 \u2068##ي\u2069"]


def test_html_text_keeps_a_blank_line_from_ending_the_html_block():
    from explainer.views.text import html_text

    assert html_text("good\n\n[x](http://e.com)\r\n    <b>") == "good&#10;&#10;[x](http&#58;//e.com)&#10;    &lt;b&gt;"
    assert "\n" not in html_text("a\rb\nc")


def test_arabic_digits_and_a_right_to_left_override_are_isolated_too():
    from explainer.views.text import numbered

    assert numbered(3, "٣") == "3 \u2068٣\u2069"
    assert numbered(4, "x\u202ey") == "4 \u2068x\u202ey\u2069"  # an unclosed override stays inside its label
    assert numbered(5, "movie") == "5 movie"


def test_a_tau_is_never_shown_rounded_to_another():
    from explainer.views.text import tau_text

    assert [tau_text(t) for t in (0.4, 0.95, 0.0, 1.0, 0.29 + 1e-12)] == ["0.40", "0.95", "0.00", "1.00", "0.29"]
    assert [tau_text(t) for t in (0.004, 0.306, 0.375)] == ["0.004", "0.306", "0.375"]  # not 0.00, 0.31, 0.38


def test_a_label_with_spaces_around_it_is_still_bold():
    """"Predicts **Negative ** (50.3%)": emphasis cannot end after a space, so the asterisks showed."""
    from explainer.views.text import markdown_strong

    assert markdown_strong("Negative ") == "**Negative**" and markdown_strong(" a*b ") == "**a\\*b**"
    assert markdown_strong("  ") == "**'  '**"


def test_a_right_to_left_label_is_set_apart_from_the_number_after_it():
    """"Prediction: חיובי (83.4%)" showed as "(%83.4) חיובי" in a left-to-right page, and a label ending in U+202E
    (RIGHT-TO-LEFT OVERRIDE) read the percentage backwards ("4.38%"): such a label is isolated (U+2068 ... U+2069),
    inside the markdown's escaping, and a left-to-right label is left as it is."""
    from explainer.views.text import markdown_label, markdown_strong

    assert markdown_label("חיובי") == "\u2068חיובי\u2069" and markdown_label("positive") == "positive"
    assert markdown_label("\u202eevil *x*") == "\u2068\u202eevil \\*x\\*\u2069"
    assert markdown_strong(" שלילי ") == "**\u2068שלילי\u2069**" and markdown_strong("pos") == "**pos**"


def test_a_label_that_could_be_misread_in_a_sentence_is_quoted():
    """"Logit difference 0 − 1", "favours 0 more" and "the model's labels are Negative ,  Positive" on models whose
    labels are numbers or have spaces around them."""
    import pytest

    from explainer.capture.validation import InputError, label_index
    from explainer.views.text import quoted_label

    assert quoted_label("positive") == "positive" and quoted_label("not bad") == "not bad"
    assert quoted_label("0") == "'0'" and quoted_label("-1") == "'-1'" and quoted_label("Negative ") == "'Negative '"
    with pytest.raises(InputError, match=r"the model's labels are 'Negative ', ' Positive'$"):
        label_index(("Negative ", " Positive"), "neutral")


def test_a_code_span_holds_its_line_breaks():
    """A blank line inside ended the paragraph and the span with it: "x\\n\\n<img onerror>" became live HTML."""
    from markdown_it import MarkdownIt

    from explainer.views.text import code_span

    for text in ("x\n\n<img src=x onerror=alert(1)>", "x\r\n\r\n<img src=x>", "x\r\r<img src=x>"):
        html = MarkdownIt("commonmark").render(f"before {code_span(text)} after")
        assert "<img" not in html and html.count("<code>") == 1 and "after</p>" in html, html
