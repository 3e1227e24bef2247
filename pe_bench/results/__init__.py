"""What a run writes into its results folder, in three parts:

- ``tables.py``: the result tables — schemas with typed columns and key columns, reading
  and validating a CSV, merging rows by key;
- ``summary.py``: the cross-suite summary (``summary.csv``) and the report (``summary.md``),
  assembled from what each suite contributes;
- ``manifest.py``: ``manifest.json``, the record of every run that wrote to the folder.

``files.py`` holds the atomic write all three use. Nothing here knows a suite by name: the
suites declare their tables and summary columns, and the runner hands them over.
"""
