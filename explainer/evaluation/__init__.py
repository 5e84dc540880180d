"""A model over a labelled data set, and two models against each other.

predict.py           batch prediction (length-sorted dynamic batches), metrics, MLP FLOPs share
prediction_cache.py  predictions cached on disk by (model fingerprint, file content, columns, tau)
error_report.py      the Errors view's library: metrics, calibration, the example table and its filters
compare.py           two models on one text (matched heads, attributions and their agreement) or on a data set
"""
