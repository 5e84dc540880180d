"""Build a report: one Trace, the chosen pages' figures from the same view functions the app draws, one HTML file.

Pages: overview (prediction, one head), attention (rollout, head entropy map, logit lens), attribution (one method:
highlighted text and bars), markers and beacons (ThoughtBeacon models; a note for any other model)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from explainer.attention.statistics import FIELDS, attention_rollout, field_title, head_statistics
from explainer.attribution.attributing import attribute
from explainer.attribution.inputs import BASELINES
from explainer.attribution.layer_methods import MethodUnsupported
from explainer.attribution.options import page_options
from explainer.attribution.registry import METHODS, REGISTRY, title
from explainer.capture.encoding import typed_special_sentence
from explainer.capture.tracing import Trace, trace
from explainer.capture.validation import InputError, label_index, truncation_sentence, unknown_sentence, unknown_token
from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle
from explainer.models import THOUGHT_BEACON_TYPES
from explainer.report.linking import LINK_LEFT_OUT, link_model
from explainer.report.options import DEFAULT_METHOD, DEFAULT_PAGES, ReportError, check_pages
from explainer.thought_beacon.beacons import input_compute
from explainer.thought_beacon.dense import ATTRIBUTED_DENSE, dense_differs, differs_note
from explainer.views import attention as attention_figures
from explainer.views import attribution as attribution_figures
from explainer.views import thought_beacon as tb_figures
from explainer.views.report import ReportMeta, Section, render_report
from explainer.views.text import clipped, display_token, isolated, tau_text

CARD_SUMMARY_CHARS = 600
UNTRAINED_NOTE = ", from an untrained model: random weights, its predictions mean nothing"  # as the app warns


def target_name(label_names: Sequence[str], target: str) -> str:
    """The label `target` names, by name or index, read as attribute, patch, ablate and counterfactual read it
    (capture.validation.label_index); ReportError naming the labels otherwise."""
    try:
        return label_names[label_index(label_names, target)]
    except InputError as error:
        raise ReportError(str(error)) from None


def card_summary(bundle: ModelBundle) -> str:
    """The first paragraph of the model's card (its folder's README.md, read with huggingface_hub's ModelCard),
    as plain text; empty when the model has no card."""
    folder = bundle.folder or shipped.resolve(bundle.name)
    card_file = folder / "README.md" if folder is not None else None
    if card_file is None or not card_file.is_file() or not _beside_model_files(card_file):
        return ""
    from huggingface_hub import ModelCard

    logging.getLogger("huggingface_hub.repocard").setLevel(logging.ERROR)  # our cards carry no YAML header
    try:
        text = ModelCard.load(card_file).text
    except Exception:  # a card that does not parse is left out, not fatal to the report
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a card saved with Windows line ends has paragraphs too
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and not p.lstrip().startswith(("#", "|", "<"))]
    summary = " ".join(paragraphs[0].split()) if paragraphs else ""
    # Markdown emphasis, code and links as plain text: the report shows the card's words, not its markup. A link's
    # address may hold one level of parentheses ("f(x)"): matching up to the first ")" left the second one behind.
    summary = re.sub(r"\*\*(.+?)\*\*|\*(.+?)\*|`([^`]*)`|\[([^\]]+)\]\((?:[^()]|\([^()]*\))*\)",
                     lambda m: next(g for g in m.groups() if g is not None), summary)
    return clipped(summary, CARD_SUMMARY_CHARS)


def _beside_model_files(card_file: Path) -> bool:
    """The card resolves into the model's folder, or beside its config (the Hugging Face cache links both into
    its blobs folder): a README.md linked elsewhere (/etc/os-release) would put a server file in a demo's report."""
    folder = card_file.parent
    try:
        card = card_file.resolve(strict=True)
        homes = {folder.resolve(strict=True), (folder / "config.json").resolve(strict=True).parent}
    except (OSError, RuntimeError):
        return False
    return any(card.is_relative_to(home) for home in homes)


def _overview_head(result: Trace, layer: int | None, head: int) -> tuple[int, int]:
    """The overview's layer (None: the last) and head, clamped to the model's, as the live page clamps a link's."""
    layer = result.num_layers - 1 if layer is None else min(max(layer, 0), result.num_layers - 1)
    return layer, min(max(head, 0), result.num_heads - 1)


def _overview(result: Trace, layer: int | None, head: int) -> Section:
    layer, head = _overview_head(result, layer, head)
    return Section("overview", "Overview", f"Predicted probabilities, and the attention of layer {layer}, head {head} "
                   "(rows: query tokens; columns: the tokens they attend to).",
                   (attention_figures.prediction_bars(result),
                    attention_figures.attention_heatmap(result, layer, head)))


STATISTIC_MEANINGS = {"entropy": "low: focused heads", "mean_distance": "how far each head looks",
                      "first_token_share": "attention on the first token", "last_token_share":
                      "attention on the last token", "self_share": "attention on the token itself",
                      "previous_token_share": "attention on the token before"}


def _attention(result: Trace, statistic: str) -> Section:
    values = getattr(head_statistics(result.attentions), statistic)
    figures = [attention_figures.rollout_heatmap(attention_rollout(result.attentions), result),
               attention_figures.head_statistic_map(values, statistic)]
    caption = ("Attention rollout (Abnar & Zuidema 2020): how much each position draws on each input token through "
               f"all layers; head {field_title(statistic)} per layer and head ({STATISTIC_MEANINGS[statistic]})")
    if result.layer_logits is not None:
        # the page names it in a subheader; in the file it needs its own title (and room for the toolbar above it)
        figures.append(attention_figures.logit_lens_chart(result).update_layout(
            title="Prediction by layer (logit lens)", margin={"t": 40}))
        caption += "; the logit lens: the classifier read off every layer"
    return Section("attention", "Attention", caption + ".", tuple(figures))


def report_model_name(bundle: ModelBundle, model_label: str | None = None) -> str:
    """How a report names its model, everywhere in the file: `model_label` (a demo's offered name), a shipped
    model's name, else a folder's name only (the file may travel beyond the server; its paths should not)."""
    if model_label:
        return model_label
    shipped_folders = {m.name: m.folder for m in shipped.SHIPPED}
    if bundle.name in shipped_folders:
        return bundle.name
    name = Path(bundle.name).name
    if name in shipped_folders and not _same_folder(bundle.folder, shipped_folders[name]):
        return f"{name} (a folder of that name, not the shipped model)"  # a copy, retrained, passed for the original
    return name


def _same_folder(folder: Path | None, other: Path) -> bool:
    try:
        return folder is not None and folder.resolve() == other.resolve()
    except OSError:
        return False


def _attribution(
    bundle: ModelBundle, result: Trace, method: str, baseline: str, target: str | None, token_limit: int | None,
    tau: float | None,
) -> Section:
    if token_limit is not None and len(result.tokens) > token_limit:
        has = f"{len(result.tokens)} tokens" if not result.truncated else \
            f"{result.num_text_tokens} tokens (the model reads {len(result.tokens)} of them)"  # as the page says it
        return Section("attribution", "Attribution", "", note=f"Left out: this text has {has}; "
                       f"attribution is limited to {token_limit} here.")
    # By default the label the header shows (the trace at the report's tau), also where a beacon model is
    # attributed dense; else the label the page attributed.
    chosen = result.predicted if target is None else result.label_names.index(target)
    options = page_options(baseline)  # the page's numbers, not the command line's longer runs
    try:
        scores = attribute(bundle, result.text, method, target=chosen, options=options, tau=tau)  # tau: rollout's
    except MethodUnsupported as error:  # this model's family lacks what the method reads: the rest still goes
        return Section("attribution", f"Attribution: {title(method)}", "", note=f"Left out: {error}")
    which = "the predicted label" if chosen == result.predicted else "the label"
    # a method that reads no label (rollout) explains none: naming one would claim what was not computed
    of = f" of {which} {scores.target_label}" if REGISTRY[method].depends_on_target else ""
    caption = f"{title(method)}{of}. " + attribution_figures.legend_sentence(method, scores.target_label)
    # The dense note holds against the tau the report's header was run at, not only the model's own; rollout runs
    # the model at that tau, not dense
    notes = [note for note in scores.notes if note != ATTRIBUTED_DENSE]
    if REGISTRY[method].dense and dense_differs(bundle.model.config, tau):
        notes.insert(0, ATTRIBUTED_DENSE)
        at = "its own tau" if tau is None else f"tau {tau:g}"
        if differs := differs_note(result.label_names, result.predicted, scores.logits, at=at):
            notes.append(differs)
    caption += "".join(f" {note}" if note.rstrip().endswith((".", "!", "?")) else f" {note}." for note in notes)
    if scores.convergence_delta is not None:
        caption += " " + attribution_figures.convergence_caption(scores)
    return Section("attribution", f"Attribution: {title(method)}", caption, (attribution_figures.bars(scores),),
                   (attribution_figures.highlighted_html(scores),))


def _attribution_options(method: str, baseline: str, target: str | None) -> dict[str, str]:
    """The attribution options the report lists: only those the method reads (saliency takes no baseline, rollout
    no label), so the table claims nothing that did not shape the scores."""
    reads = REGISTRY[method].reads
    used = {"attribution method": title(method)}
    if "baseline" in reads:
        used["attribution baseline"] = baseline
    if "target" in reads:
        used["attribution target"] = target or "the predicted label"
    return used


def _markers(result: Trace, token: int | None, name: str) -> Section:
    if result.thought_markers is None:  # a ThoughtBeacon model built with none is still one: not "only ThoughtBeacon"
        why = ("it was built with none" if result.architecture in THOUGHT_BEACON_TYPES
               else "only ThoughtBeacon models route tokens through them")
        return Section("markers", "Thought markers", "", note=f"{name} has no thought markers ({why}).")
    token = token if token is not None and 0 <= token < len(result.tokens) else None
    path = "every token" if token is None else f"token {token}, {display_token(result.tokens[token])!r}"
    return Section("markers", "Thought markers", "Which thought marker each token chose at each layer, and the "
                   f"reasoning path of {path} through them.",
                   (tb_figures.marker_map(result), tb_figures.reasoning_sankey(result, token)))


def _beacons(result: Trace, config, name: str) -> Section:
    if result.beacon_gates is None:  # the page draws the measured MLP update ratio instead: so does the report
        if result.mlp_update_ratio is None:
            return Section("beacons", "Activation beacons", "", note=f"{name} has no activation beacons.")
        return Section("beacons", "Measured MLP update ratio (this model has no beacons)",
                       "Not a gate: how large each layer's MLP update is next to the word's state, ‖MLP(h)‖ / ‖h‖, "
                       "measured in the forward pass. Small values mark MLP evaluations that change little.",
                       (tb_figures.mlp_ratio_map(result),), note=f"{name} has no activation beacons.")
    saved = input_compute(result, config)
    figures = [tb_figures.gate_map(result), tb_figures.skip_mask_map(saved.skip_mask, result, saved.tau)]
    if result.mlp_update_ratio is not None:
        figures.append(tb_figures.mlp_ratio_map(result))
    return Section("beacons", "Activation beacons", "Beacon gate per layer and token (how much of its MLP each "
                   f"position applies), the MLPs skipped at τ = {tau_text(saved.tau)}: {saved.skipped} of "
                   f"{saved.slots} "
                   f"({saved.skip_rate:.1%}; {saved.total_flops_saved:.1%} of the forward pass's FLOPs saved), and "
                   "the MLP update each position applied (gated; 0 where skipped).", tuple(figures))


def build_report(
    bundle: ModelBundle,
    text: str,
    pages: Sequence[str] = DEFAULT_PAGES,
    *,
    method: str = DEFAULT_METHOD,
    baseline: str = "pad",
    target: str | None = None,
    statistic: str = "entropy",
    layer: int | None = None,
    head: int = 0,
    beacon_threshold: float | None = None,
    link: str = "",
    link_note: str = "",
    options: Mapping[str, str] | None = None,
    attribution_token_limit: int | None = None,
    model_label: str | None = None,
    path_token: int | None = None,
    left_out: Sequence[str] = (),
) -> str:
    """The report of `bundle` on `text` with the chosen `pages`, as one HTML document: the overview's attention
    head at `layer` (None: the last) and `head`, the attention section's head `statistic`, attribution of the
    label `target` (a name or an index; None: the predicted one) by `method` from `baseline`, every view at
    `beacon_threshold` (None: the model's own tau), the markers' reasoning path of `path_token` (None: every
    token); `left_out` names what the page showed that the report does not draw; `link` reopens the live view and
    `link_note` says what it opens (both left out, with a line saying why, for a model loaded from a folder that
    `model_label` offers no name for).
    InputError for unusable text, ReportError for an unknown page, method, baseline, statistic or label."""
    pages = check_pages(pages)
    if method not in METHODS:
        raise ReportError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}")
    if baseline not in BASELINES:
        raise ReportError(f"Unknown baseline '{baseline}'; choose one of {', '.join(BASELINES)}")
    if statistic not in FIELDS:
        raise ReportError(f"Unknown head statistic '{statistic}'; choose one of {', '.join(FIELDS)}")
    target = None if target is None else target_name(bundle.label_names, target)
    result = trace(bundle, text, beacon_threshold=beacon_threshold)
    shown_name = report_model_name(bundle, model_label)
    builders = {
        "overview": lambda: _overview(result, layer, head),
        "attention": lambda: _attention(result, statistic),
        "attribution": lambda: _attribution(
            bundle, result, method, baseline, target, attribution_token_limit, beacon_threshold
        ),
        "markers": lambda: _markers(result, path_token, shown_name),
        "beacons": lambda: _beacons(result, bundle.model.config, shown_name),
    }
    sections = [builders[page]() for page in pages]
    used = {"pages": ", ".join(pages)}
    if "overview" in pages:
        used["head in the Overview section"] = "layer {}, head {}".format(*_overview_head(result, layer, head))
    if any(section.key == "attribution" and section.figures for section in sections):  # not where it was left out
        used |= _attribution_options(method, baseline, target)  # (a demo's token limit, a method the model lacks)
    if "attention" in pages:
        used["head statistic"] = field_title(statistic)  # as the page names it ("self share", not self_share)
    if beacon_threshold is not None and result.beacon_gates is not None:
        used["beacon tau"] = (f"{tau_text(beacon_threshold)} (the model's own: "
                              f"{tau_text(bundle.model.config.beacon_threshold)})")
    if "markers" in pages and path_token is not None and result.thought_markers is not None:
        # a token the text lacks: the section shows every token; a model without markers has no path to show
        shown = 0 <= path_token < len(result.tokens)
        used["reasoning path"] = f"token {path_token}" if shown else f"every token (the text has no token {path_token})"
    if left_out:
        used["not in this report"] = "; ".join(left_out)
    used |= dict(options or {})
    if result.truncated:
        used["truncated"] = truncation_sentence(result.num_text_tokens, result.max_length,
                                                cuts_left_elsewhere=bundle.cuts_left_elsewhere)
    if result.unread_note:
        used["not read"] = result.unread_note
    if typed := result.typed_special_tokens(bundle.tokenizer):  # as every page says it
        used["special tokens typed"] = typed_special_sentence(typed)
    if unknown := unknown_sentence(result.tokens, result.special_tokens, unknown_token(bundle.tokenizer)):
        used["unknown tokens"] = unknown
    shareable = link_model(bundle, model_label) is not None  # else the link would carry the folder's path
    # at a tau of the report's own, the headline says so: the Overview page, at the model's own, showed another
    # probability (98.6% beside the report's 82.3% at 0.90), even another label
    own_tau = "beacon tau" in used and tau_text(beacon_threshold) != tau_text(bundle.model.config.beacon_threshold)
    meta = ReportMeta(
        model=shown_name,
        text=text, prediction=f"{isolated(result.predicted_label)} ({result.probabilities[result.predicted]:.1%})" + (
            f" at τ {tau_text(beacon_threshold)}" if own_tau else "") + (UNTRAINED_NOTE if result.untrained else ""),
        probabilities=dict(zip(result.label_names, map(float, result.probabilities))),
        options=used, card_summary=card_summary(bundle), link=link if shareable else "",
        link_note=link_note if shareable else LINK_LEFT_OUT,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return render_report(meta, sections)
