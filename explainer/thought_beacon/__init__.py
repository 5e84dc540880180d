"""Views into the project's own architecture (thought markers and activation beacons), beyond one Trace.

interventions.py      force markers and pin gates, and what changed in the prediction
marker_dictionary.py  per layer and marker over a data set: share of tokens, top tokens and contexts, effects
dictionary_options.py DictionaryOptions: how the dictionary is built (light: no torch)
dense.py              views that run the model dense still watch the label it predicts at its own tau
beacons.py            compute saved per input, the accuracy-vs-compute sweep over tau (cached on disk)
"""
