"""Pure figure functions, by concern: data in (a Trace, an Attribution, a report), plotly figures or HTML out.

No model, no Streamlit, no torch import (library types are imported for typing only). User text is escaped for
plotly in one place (text.py).

attention.py      prediction bars, attention heatmaps, head grid and statistic maps, rollout, logit lens
attention_page.py the Attention page's figures built from one Trace and the page's options
bertviz.py        bertviz head and model views, served offline
attribution.py    highlighted text, bars, layer heatmaps, faithfulness curves, agreement, the attribution graph
thought_beacon.py marker map, reasoning path (Sankey), gate and skip maps, tau curve, prediction change
evaluation.py     confusion matrix, reliability diagram, matched heads and paired attributions (Compare)
causal.py         head ablation and activation patching figures and tables
whatif.py         an edit's word diff, the per-head attention change, the counterfactuals table
dataset_map.py    the data-set map (WebGL scatter above 1,000 points) coloured by a column
report.py         the stakeholder report rendered as one self-contained HTML file
text.py           plot_text (escaping) and unique token labels
"""
