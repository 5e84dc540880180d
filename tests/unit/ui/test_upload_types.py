"""Every format the reader reads can be uploaded, and an uploaded Parquet file reads like the same CSV."""

from __future__ import annotations

import io

import pandas as pd

from explainer.data.labelled import EXTENSIONS
from explainer.evaluation.error_report import MAX_UPLOAD_BYTES, MEGABYTE
from explainer.ui.labelled import SOURCES, UPLOAD_TYPES, DataChoice


class Upload(io.BytesIO):  # what Streamlit's UploadedFile is: a BytesIO with a name, a size and an id
    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name, self.size, self.file_id = name, len(data), name


def test_the_uploader_takes_every_extension_the_reader_reads():
    assert {extension.lstrip(".") for extension in EXTENSIONS} <= set(UPLOAD_TYPES)
    assert MAX_UPLOAD_BYTES == 100 * MEGABYTE == 100 * 2**20  # MB as Streamlit's upload endpoint counts them


def test_an_uploaded_parquet_file_loads_like_the_csv(bundle):
    frame = pd.DataFrame({"text": ["a fine film", "a dull film", " "], "label": ["pos", "neg", "neg"]})
    parquet, csv = io.BytesIO(), frame.to_csv(index=False).encode()
    frame.to_parquet(parquet)
    ours = bundle("ours")
    a = DataChoice(SOURCES[1], upload=Upload("rows.parquet", parquet.getvalue())).load(ours)
    b = DataChoice(SOURCES[1], upload=Upload("rows.csv", csv)).load(ours)
    assert a.texts == b.texts and a.labels == b.labels and len(a.problems) == len(b.problems) == 1
