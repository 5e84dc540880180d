"""From a name to a ModelBundle ready for capture.

bundle.py     load_model -> ModelBundle: our models and any AutoModelForSequenceClassification checkpoint; eager
              attention, safetensors preferred, pickle refused unless asked, never trust_remote_code
saved_tokenizer.py  a checkpoint's tokenizer.json as saved, where transformers' class would cut text otherwise
shipped.py    the models in assets/models, the default, and the pairs the Compare page offers
backbone.py   the pretrained MiniLM base, located offline and verified by SHA-256
retrofit.py   markers and beacons retrofitted onto a verified base; adapter checkpoints loaded onto it
untrained.py  the random-weight fallback built on first use when no shipped model is present
memory.py     keep freed memory mapped in processes that trace (allocator setting); release_freed_memory
              gives freed heap back to the OS (malloc_trim) when the server idles
shards.py     a sharded checkpoint's index, checked before transformers follows its shard names
layer_shapes.py  layer_shape_refusal(): why a model whose layers' maps do not cover the same tokens (Funnel pools,
              Longformer attends a window) cannot be shown; asked by the load probe and by trace()
"""
