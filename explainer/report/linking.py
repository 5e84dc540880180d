"""The report's "Live view" link back to the app: which model name a link may carry (a folder's path must not
travel with the file: the report names a folder model by its folder's name only)."""

from __future__ import annotations

from explainer.loading import shipped
from explainer.loading.bundle import ModelBundle

LINK_LEFT_OUT = "The live link is left out: the model was loaded from a folder on the machine that made this report."


def link_model(bundle: ModelBundle, offered: str | None = None) -> str | None:
    """The model name a link to the live app may carry: demo mode's `offered` name, a shipped name, a hub id;
    None for a model loaded from a folder (its path names the machine that made the report, and opens nothing
    anywhere else)."""
    if offered:
        return offered
    named = {m.name for m in shipped.SHIPPED} | {shipped.UNTRAINED_NAME}
    return bundle.name if bundle.folder is None or bundle.name in named else None
