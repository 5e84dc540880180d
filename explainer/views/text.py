"""Token and label text for figures and widgets: the one place user text is escaped for plotly."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

# What a table shows for a missing value (st.dataframe's `placeholder=`, and text such as the ECE): Streamlit's
# default is a grey "None", which reads as a name or a bug (a label with no F1, a slice with no rows).
MISSING = "–"
REPORT_TITLE = "Transformer Explainer report"  # a report's <title> starts with it: how an earlier one is known


def plot_text(text: str) -> str:
    """`text` escaped for a plotly label, title or hover: <, > and & only. Plotly reads a subset of HTML tags in
    them but shows entities such as &quot; literally, so quotes are left as they are."""
    return html.escape(str(text), quote=False)


LINE_BREAKS = re.compile(r"\r\n|\r|\n")
# The colon that can open one of Streamlit's markdown directives, which it applies even inside HTML and after
# escapes: an icon (":material/thumb_up:" drew ":material_thumb_up:"), an emoji shortcode (":smile:"), a colour or
# badge (":red[x]", "[" escaped or not), and a bare ":red" or ":name{...}", which ate the word. Written as a
# character reference, it shows as ":" and starts nothing. In HTML every colon is: a text shown piece by piece
# (token spans, a diff's words) splits a directive where no lookahead sees it whole.
DIRECTIVE_COLON = re.compile(r":(?=[\w+\\-])")


def html_text(text: str) -> str:
    """`text` escaped for HTML that Streamlit's markdown shows (unsafe_allow_html): besides <, >, & and quotes,
    line breaks become character references, since a blank line would end the HTML block and let the rest of the
    user's text be read as markdown (a link, bold, an indented code block). Under white-space: pre-wrap they
    still break the line. Every colon is a reference too (DIRECTIVE_COLON)."""
    return LINE_BREAKS.sub("&#10;", html.escape(str(text))).replace(":", "&#58;")


# Explicit bidi embeddings, overrides and isolates: an unclosed U+202E reverses everything after it on the line.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def html_piece(text: str) -> str:
    """html_text for one piece of a text shown piece by piece (a token's span, the gap before it): a piece holding
    an explicit bidi control is set apart (<bdi>), so its override ends with it instead of reversing the pieces
    after it (a highlighted "evil" read "live" beside the bars' "13 evil")."""
    escaped = html_text(text)
    return f"<bdi>{escaped}</bdi>" if BIDI_CONTROLS.search(text) else escaped


MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>$~|&])")
# What GitHub-flavoured markdown turns into a link with no markup at all (escapes do not stop it): shown as code.
BARE_LINKS = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)
TRAILING = ".,:;!?'\")]}*_~"  # left out of a bare link's code span
# What starts a block where a line starts (a heading, a list item, a setext underline: "neg\n===" is a heading)
# and the indentation that makes a code block: escapes cannot reach them mid-line, so they are escaped per line.
LINE_START_MARK = re.compile(r"^([ \t]*)([#+=-])", re.MULTILINE)
LINE_START_NUMBER = re.compile(r"^([ \t]*)(\d{1,9})([.)])", re.MULTILINE)
LINE_BREAK = re.compile(r"\r\n?")
INDENT = re.compile(r"(?<=\n)[ \t]+")  # after a line break (the text's own first line may follow a word)


def tau_text(tau: float) -> str:
    """A beacon threshold as the Beacons page's slider writes it (0.40), or in full where it is not in hundredths
    (a folder's own 0.375, a hand-set 0.004): a tau is never shown rounded to another one than was run."""
    hundredths = round(tau * 100)
    return f"{tau:.2f}" if abs(tau * 100 - hundredths) < 1e-6 else f"{tau:g}"


def clipped(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis last where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def middle_clipped(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, its beginning and its end kept around an ellipsis: label names that
    differ only in their last words ("... NEG-A", "... POS-B") stay told apart."""
    if len(text) <= limit:
        return text
    tail = (limit - 1) // 3
    return text[: limit - 1 - tail] + "…" + text[len(text) - tail :]


def marker_name(marker: int) -> str:
    """A marker's name wherever it is shown (map cells, axes, pickers, the data-set map's legend, its slices'
    rows CSV): "m3"."""
    return f"m{marker}"


LABEL_LIMIT = 40  # characters of a label name on a chart axis, legend or title: a 200-character one squeezed the plot


def label_text(name: str, limit: int = LABEL_LIMIT) -> str:
    """A label name for a chart (axis, legend, title): at most `limit` characters (middle_clipped), escaped for
    plotly."""
    return plot_text(middle_clipped(str(name), limit))


def label_texts(names: Sequence[str]) -> list[str]:
    """label_text of each of a model's label names, told apart: where two shortened names read the same (they
    differed in the middle), each of them starts with its label id, or a category axis would merge the two."""
    shown = [label_text(name) for name in names]
    repeated = {text for text in shown if shown.count(text) > 1}
    return [label_text(f"{index}: {name}") if text in repeated else text
            for index, (name, text) in enumerate(zip(names, shown))]


def plural(count: int, word: str) -> str:
    """ "1 token", "2 tokens" (regular plurals only: token, word, edge, layer)."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def one_line(text: str) -> str:
    """`text` with each line break (CommonMark's: CR LF, LF, CR) a space."""
    return re.sub(r"\r\n|[\r\n]", " ", text)


def code_span(text: str) -> str:
    """`text` as a Markdown code span whatever it holds: fenced by one backtick more than its longest run of them,
    padded with a space where it starts or ends with one (CommonMark). Line breaks become spaces, as CommonMark
    shows them in a code span anyway: a blank line would end the paragraph, and the span with it, and what
    followed (a file named "x\n\n<img onerror=...>") would be read as HTML."""
    text = one_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _autolink(found: str) -> str:
    """The part of a bare address GFM makes a link: trailing punctuation is left out ("(see http://e.x)." keeps
    ")." as text), but a ")" only while it closes no "(" of the address (".../Python_(language)" keeps its own)."""
    while found and found[-1] in TRAILING:
        if found[-1] == ")" and found.count(")") <= found.count("("):
            break
        found = found[:-1]
    return found


def markdown_literal(text: str) -> str:
    """`text` (a model name, a path, an error naming them) for a Streamlit markdown element, shown as typed: the
    characters that make emphasis, links, code, HTML, LaTeX or tables, and the "&" that starts a character reference
    ("&lt;" would read "<"), are backslash-escaped, and what would become
    a link with no markup (an address, "www.", an e-mail) is set as code, so a crafted name in a link cannot draw
    a clickable link or styled text inside the app's own message; nor an icon, emoji or colour (DIRECTIVE_COLON);
    nor a heading, list or code block after a line break (the indentation after one is dropped, and a "#", "-",
    "+", "=" or "1." that starts a line is escaped)."""
    def escaped(piece: str) -> str:
        return DIRECTIVE_COLON.sub("&#58;", MARKDOWN_SPECIALS.sub(r"\\\1", piece))

    parts, at = [], 0
    for found in BARE_LINKS.finditer(text):
        link = _autolink(found.group(0))
        parts += [escaped(text[at : found.start()]), code_span(link)]
        at = found.start() + len(link)
    shown = INDENT.sub("", LINE_BREAK.sub("\n", "".join(parts) + escaped(text[at:])))
    # each line (a label "neg\n# Sign in again" held a heading) starts as text
    return LINE_START_NUMBER.sub(r"\1\2\\\3", LINE_START_MARK.sub(r"\1\\\2", shown))


def quoted_label(name: str) -> str:
    """A label name inside a sentence: as it is, unless it could be misread there (a number such as "0", which
    reads as a count or an id, or spaces around it, which vanish in the sentence), then in quotes."""
    plain = name == name.strip() and name and not name.lstrip("-").isdigit()
    return name if plain else f"'{name}'"


def markdown_strong(text: str) -> str:
    """`text` in bold, as markdown_label shows it: without the spaces around it, since "**Negative **" is no
    emphasis in Markdown (a label "Negative " showed its asterisks); a text of spaces only is quoted."""
    inner = text.strip()
    return f"**{markdown_label(inner if inner else repr(text))}**"


def markdown_label(name: str) -> str:
    """A label (or model) name for markdown: escaped, and set apart where it holds right-to-left text (U+2068 …
    U+2069), so that it cannot take what follows into its direction: "Prediction: חיובי (83.4%)" read
    "(%83.4) חיובי", and a label ending in U+202E reversed the sentence after it."""
    return markdown_literal(isolated(name))


# How byte-level BPE (GPT-2, RoBERTa) and SentencePiece write a space, a newline and a tab inside a token; shown as
# bertviz shows them (format_special_chars), so "Ġfilm" reads "film" on an axis.
SPACE_MARKS = str.maketrans({"Ġ": " ", "▁": " ", "Ċ": "↵", "ĉ": "⇥"})


def display_token(token: str) -> str:
    """A token as a reader wants it on an axis: word-start marks dropped, newline and tab as arrows; a token that
    is only a space reads "␣"."""
    return token.translate(SPACE_MARKS).strip(" ") or ("␣" if token else token)


# Bidi classes that can move the number before a token: right-to-left letters, Arabic digits, and the explicit
# embeddings, overrides and isolates a token may carry (an unclosed U+202E would reverse the rest of the label).
RIGHT_TO_LEFT = {"R", "AL", "AN", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI"}


def isolated(text: str) -> str:
    """Text that could reorder its label set apart (U+2068 … U+2069), so that "2 ##ي" does not read "ي## 2"."""
    if any(unicodedata.bidirectional(character) in RIGHT_TO_LEFT for character in text):
        return f"\u2068{text}\u2069"
    return text


def hidden_state_name(index: int) -> str:
    """Hidden state `index` ([layers+1] of them) as every view names it: 0 is the embeddings, i the output of layer
    i - 1, since the pages count layers, like heads, from 0 (the Attention and Causal pages' "layer 0" is the first
    block; a heatmap row "layer 1" beside them would be the same block's output)."""
    return "embeddings" if index == 0 else f"after layer {index - 1}"


def numbered(index: int, shown: str) -> str:
    """"3 movie": a position and its token as already shown (escaped for plotly, or as typed for a widget),
    the index kept first whatever script the token is in."""
    return f"{index} {isolated(shown)}"


def token_labels(tokens: Sequence[str], plotly: bool = True) -> list[str]:
    """Unique labels ("3 movie"): repeated tokens must not merge on a categorical axis. Escaped for plotly;
    `plotly=False` gives them as typed, for Streamlit widgets, which show text literally."""
    return [numbered(i, plot_text(display_token(token)) if plotly else display_token(token)) for i, token in
            enumerate(tokens)]


def index_within(value: int, count: int, what: str) -> int:
    """`value` as an index of `count` things (ValueError naming the range otherwise): a view drew layer -1 titled
    "Layer -1", and layer 6 of six failed as numpy's IndexError."""
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise ValueError(f"A {what} is a whole number, not {value!r}")
    if not 0 <= int(value) < count:
        raise ValueError(f"{what.capitalize()} {value} is out of range: there are {count} (0 to {count - 1})")
    return int(value)
