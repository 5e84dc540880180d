"""The data-set map: embeddings of a labelled data set (collected in the prediction pass), their 2-D projection,
nearest neighbours, likely-mislabelled examples and slices with their metrics.

    result = build_map(bundle, data, MapOptions(layer=None, method="pca"))  # maps.py; None: last layer; cached
    result.frame            # one row per example: x, y, label, predicted, confidence, ...
    result.neighbours       # Neighbours: [N, k] rows and cosine distances
    result.mislabelled      # likely-mislabelled rows, ranked

embeddings.py   pooling of one batch's hidden states and the on-disk float16 store (written slot block by block)
projection.py   streaming PCA (matches scikit-learn's) and seeded UMAP after PCA to 50 dimensions
neighbours.py   exact cosine k nearest neighbours
knn_search.py   the exact blocked search under it (BLAS products, numba scans; identical rows searched once)
mislabels.py    rows whose label disagrees with most neighbours' labels and with the model
slices.py       named slices (filter, selection, list), their metrics, export and link form
maps.py         the whole map of a data set, with the projection cached on disk
"""
