"""Data-set work (predictions, embeddings, the marker dictionary, the tau sweep) run on a Ray cluster.

    inputs = resolve_inputs("shards/*.csv")                       # one file, a folder or a glob of shards
    manifest, reused = run_job(bundle, inputs, JobOptions(kind="evaluate"), out="results/", engine="ray",
                               ray_options=RayOptions(workers=2))
    results = open_results("results/")                            # what the app's pages read, no model pass

The input is read with Ray Data (one read task per file, parsed by the same reader as the local engine, so
columns, labels and skipped lines are the same), the model runs in an actor pool (each actor loads the bundle
once), and the output is a results folder: Parquet shards of per-row results plus `manifest.json`
(explainer/scale/manifest.py). The local engine writes the same folder from one process.
"""
