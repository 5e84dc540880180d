"""What attention maps say, computed from a Trace's arrays (numpy, no model).

statistics.py     attention rollout; per-head entropy, mean distance and shares on first/last/self/previous token
head_matching.py  heads of two models matched one-to-one by the correlation of their maps (Hungarian assignment)
"""
