"""Data the library reads and keeps, with no model involved.

labelled.py    labelled data sets (CSV, TSV, JSONL, Parquet): columns and labels detected, malformed rows reported
challenge.py   the CheckList-style challenge set, generated from templates written for this project
spreadsheet.py CSV cells that start like a formula get an apostrophe (against CSV injection)
disk_cache.py  results cached on disk between runs (atomic JSON files), keyed by model fingerprint and content
folders.py     output folders a command makes, removed again when it stops without output
"""
