"""A sharded checkpoint's index (model.safetensors.index.json, pytorch_model.bin.index.json), checked before
transformers reads it.

transformers joins each shard name the index gives to the folder and opens it: "../x" or "/etc/passwd" would be
read from outside the folder, "/dev/zero" or a FIFO never ends, and a shard not named .safetensors is opened with
torch.load (unpickling) even behind a safetensors index, with no opt-in. A damaged index came out as a bare key
("'weight_map'") or "list index out of range". Symlinked shards are followed: the Hugging Face cache's snapshot
folders link every file to a blob outside them.
"""

from __future__ import annotations

import json
from pathlib import Path

SAFE_INDEX = "model.safetensors.index.json"
PICKLE_INDEX = "pytorch_model.bin.index.json"


def index_problem(folder: Path, index_name: str) -> str | None:
    """Why the index in `folder` is refused (None: it is not): not JSON, no weight_map of tensor names to shard
    files, a shard that is not a plain file of this folder, a pickle shard in a safetensors index."""
    path = folder / index_name
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:  # nested 100,000 deep: a traceback
        return f"{folder}: {index_name} cannot be read as JSON ({type(error).__name__})"
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if (
        not isinstance(weight_map, dict)
        or not weight_map
        or not all(isinstance(key, str) and isinstance(value, str) for key, value in weight_map.items())
    ):
        return f"{folder}: {index_name} has no weight_map of tensor names to shard file names"
    if not isinstance(index.get("metadata"), dict):  # transformers reads it
        return f"{folder}: {index_name} has no metadata object"
    for shard in sorted(set(weight_map.values())):
        if not shard or shard != Path(shard).name or shard in (".", ".."):  # a path, not a name in this folder
            return f"{folder}: {index_name} names a shard outside the folder; shards are file names in the folder"
        if index_name == SAFE_INDEX and not shard.endswith(".safetensors"):  # with or without the opt-in: the
            # pickle index is where pickle shards are named, and where --allow-pickle lets them in
            return (
                f"{folder}: {index_name} names a shard that is not a safetensors file ({shard}); such a shard "
                "would be unpickled, which can run arbitrary code, so it is refused"
            )
        if not (folder / shard).is_file():  # follows links; a FIFO or a device is no file
            return f"{folder}: the shard {shard} that {index_name} names is missing or not a file"
    return None
